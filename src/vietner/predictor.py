"""The prediction core: syllables in, tags and entities out, the one way every vietner score is made.

``NerTagger.predict`` (raw text), the scores ``train.py`` reports for dev and test, and ``evaluate.py
--model`` all call :meth:`Predictor.predict`, so they cannot disagree:

sentences (syllables) -> words (the model's segmenter) -> windows under the position limit -> all windows
of all sentences sorted by length into dynamically padded batches -> each word's emissions from the one
window whose core holds it -> per-sentence decoding (argmax, or CRF Viterbi over the whole sentence) ->
syllable tags -> entities.

Entities are read from the tags as seqeval's default mode (and ``predict()``) reads them: a stray ``I-X``
opens an entity. The tags returned are repaired to valid IOB2 so that they spell exactly those entities;
every score counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from .encoding import EncodedSentence, Preprocessor
from .modeling import NerModel
from .schema import check_labels, iob1_to_iob2
from .segment import WordSpans, syllable_tags
from .spans import Span, entities

__all__ = ["SentencePrediction", "Predictor"]


@dataclass(frozen=True)
class SentencePrediction:
    """One sentence's prediction: its syllable IOB2 tags, the entities they spell (each scored with the mean
    probability of its words' tags), and the word spans."""

    tags: tuple[str, ...]
    entities: tuple[Span, ...]
    words: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Row:
    sentence: int
    core_start: int
    input_ids: tuple[int, ...]
    word_starts: tuple[int, ...]  # positions of the window's core words


class Predictor:
    """A ``NerModel`` with the preprocessing it was trained with; :meth:`predict` tags sentences of syllables.

    ``preprocessor`` is the run's one :class:`vietner.encoding.Preprocessor` (with the model's tokenizer):
    training shares its own, so a sentence is segmented once per run. ``autocast`` is a context factory
    wrapped around each forward pass (``accelerator.autocast`` in training, ``torch.autocast`` for a
    reduced-precision tagger). The work is two stages: ``preprocessor.prepare_many`` (CPU only, picklable in
    and out, so worker processes can run it) and :meth:`predict_prepared` (the model).
    """

    def __init__(
        self,
        model: NerModel,
        preprocessor: Preprocessor,
        device: torch.device | None = None,
        autocast: type[AbstractContextManager] | None = None,
    ) -> None:
        if preprocessor.tokenizer is None:
            raise ValueError("the Predictor's preprocessor needs the model's tokenizer")
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels = [id2label[i] for i in range(len(id2label))]
        check_labels(self.labels)
        self.model = model
        self.preprocessor = preprocessor
        self.pad_id = preprocessor.tokenizer.pad_token_id
        self.device = device
        self.autocast = autocast or nullcontext

    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[SentencePrediction]:
        """Tag each sentence (a list of syllables); ``batch_size`` counts windows per forward pass."""
        return self.predict_prepared(self.preprocessor.prepare_many(sentences), batch_size)

    def predict_prepared(
        self, sentences: Sequence[EncodedSentence], batch_size: int = 32, max_tokens: int | None = None
    ) -> list[SentencePrediction]:
        """Tag sentences made by ``preprocessor.prepare_many``; see :meth:`decode_prepared` for the batch bounds."""
        tags, scores = self.decode_prepared(sentences, batch_size, max_tokens)
        return [_sentence(list(s.words), t, p) for s, t, p in zip(sentences, tags, scores)]

    def decode_words(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 32
    ) -> tuple[list[WordSpans], list[list[str]], list[list[float]]]:
        """Return each sentence's word spans, the model's decoded word tags (before any IOB2 repair) and
        each tag's softmax probability."""
        prepared = self.preprocessor.prepare_many(sentences)
        tags, scores = self.decode_prepared(prepared, batch_size)
        return [list(s.words) for s in prepared], tags, scores

    def decode_prepared(
        self, sentences: Sequence[EncodedSentence], batch_size: int = 32, max_tokens: int | None = None
    ) -> tuple[list[list[str]], list[list[float]]]:
        """Return the decoded word tags of prepared sentences and each tag's probability. A forward pass
        holds at most ``batch_size`` windows and, with ``max_tokens``, at most that many padded positions."""
        rows = [
            _Row(index, core_start, input_ids, word_starts)
            for index, sentence in enumerate(sentences)
            for core_start, input_ids, word_starts in sentence.windows
        ]
        return self._decode(self._emissions(rows, len(sentences), batch_size, max_tokens))

    def _emissions(
        self, rows: list[_Row], sentences: int, batch_size: int, max_tokens: int | None
    ) -> list[torch.Tensor | None]:
        """Return each sentence's word emissions ``(words, labels)``, each word read from its core window."""
        chunks: list[list[tuple[int, torch.Tensor]]] = [[] for _ in range(sentences)]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids), reverse=True)
        was_training = self.model.training
        self.model.eval()
        device = self.device or next(self.model.parameters()).device
        try:
            with torch.inference_mode():
                for batch in _batches([rows[i] for i in order], batch_size, max_tokens):
                    input_ids, attention = self._pad(batch, pin=device.type == "cuda")
                    # Pinned host memory lets the copy overlap the previous batch's work on the GPU.
                    input_ids = input_ids.to(device, non_blocking=True)
                    attention = attention.to(device, non_blocking=True)
                    with self.autocast():
                        logits = self.model.encoder(input_ids=input_ids, attention_mask=attention).logits
                    # One gather per batch: every core word's emissions, row by row, then split per row.
                    counts = [len(row.word_starts) for row in batch]
                    at_row = [i for i, n in enumerate(counts) for _ in range(n)]
                    at_position = [p for row in batch for p in row.word_starts]
                    words = logits.float()[at_row, at_position]
                    for row, values in zip(batch, words.split(counts)):
                        chunks[row.sentence].append((row.core_start, values))
        finally:
            self.model.train(was_training)
        return [torch.cat([c for _, c in sorted(parts, key=lambda p: p[0])]) if parts else None for parts in chunks]

    def _pad(self, batch: list[_Row], pin: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row.input_ids) for row in batch)
        padded = [list(row.input_ids) + [self.pad_id] * (width - len(row.input_ids)) for row in batch]
        mask = [[1] * len(row.input_ids) + [0] * (width - len(row.input_ids)) for row in batch]
        input_ids, attention = torch.tensor(padded), torch.tensor(mask)
        return (input_ids.pin_memory(), attention.pin_memory()) if pin else (input_ids, attention)

    def _decode(self, emissions: list[torch.Tensor | None], chunk: int = 256) -> tuple[list[list[str]], list[list[float]]]:
        """Decode whole sentences with the model's head; return word tags and each tag's softmax probability."""
        tags: list[list[str]] = [[] for _ in emissions]
        scores: list[list[float]] = [[] for _ in emissions]
        present = [i for i, e in enumerate(emissions) if e is not None and len(e)]
        for begin in range(0, len(present), chunk):
            indices = present[begin : begin + chunk]
            padded = torch.nn.utils.rnn.pad_sequence([emissions[i] for i in indices], batch_first=True)
            lengths = torch.tensor([len(emissions[i]) for i in indices], device=padded.device)
            mask = torch.arange(padded.size(1), device=padded.device)[None, :] < lengths[:, None]
            decoded = self.model.decode(padded, mask)
            chosen = torch.tensor([ids + [0] * (padded.size(1) - len(ids)) for ids in decoded], device=padded.device)
            probabilities = padded.softmax(-1).gather(-1, chosen.unsqueeze(-1)).squeeze(-1).tolist()
            for i, ids, row in zip(indices, decoded, probabilities):
                tags[i] = [self.labels[t] for t in ids]
                scores[i] = row[: len(ids)]
        return tags, scores


def _batches(rows: list[_Row], batch_size: int, max_tokens: int | None) -> list[list[_Row]]:
    """Cut rows sorted longest first into batches of at most ``batch_size`` rows and ``max_tokens`` padded
    positions (the first row sets a batch's width); a row longer than ``max_tokens`` goes alone."""
    batches: list[list[_Row]] = []
    for row in rows:
        if batches:
            batch = batches[-1]
            if len(batch) < batch_size and (max_tokens is None or (len(batch) + 1) * len(batch[0].input_ids) <= max_tokens):
                batch.append(row)
                continue
        batches.append([row])
    return batches


def _sentence(words: WordSpans, word_tags: list[str], word_scores: list[float]) -> SentencePrediction:
    """Spread word tags over syllables, read entities as ``predict()`` does, and score each entity."""
    tags = iob1_to_iob2(syllable_tags(words, word_tags))
    word_of = [w for w, (a, b) in enumerate(words) for _ in range(a, b)]
    found = []
    for span in entities(tags):
        covered = sorted(set(word_of[span.start : span.end]))
        found.append(Span(span.label, span.start, span.end, sum(word_scores[w] for w in covered) / len(covered)))
    return SentencePrediction(tuple(tags), tuple(found), tuple(words))
