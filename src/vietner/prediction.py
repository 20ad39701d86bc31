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
from seqeval.metrics.sequence_labeling import get_entities

from .config import Preprocessing
from .encoding import Preprocessor, Window
from .modeling import NerModel
from .schema import check_labels, iob1_to_iob2
from .segment import Segmenter, WordSpans, syllable_tags

__all__ = ["EntitySpan", "SentencePrediction", "Predictor"]


@dataclass(frozen=True)
class EntitySpan:
    """An entity over syllables ``[start, end)`` of a sentence, with the mean probability of its words' tags."""

    label: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class SentencePrediction:
    """One sentence's prediction: its syllable IOB2 tags, the entities they spell, and the word spans."""

    tags: tuple[str, ...]
    entities: tuple[EntitySpan, ...]
    words: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Row:
    sentence: int
    window: Window
    input_ids: list[int]
    word_starts: list[int]  # positions of the window's core words


class Predictor:
    """A ``NerModel`` with the preprocessing it was trained with; :meth:`predict` tags sentences of syllables.

    ``autocast`` is a context factory wrapped around each forward pass (``accelerator.autocast`` in
    training, ``torch.autocast`` for a reduced-precision tagger).
    """

    def __init__(
        self,
        model: NerModel,
        tokenizer: object,
        preprocessing: Preprocessing,
        segmenter: Segmenter | None = None,
        device: torch.device | None = None,
        autocast: type[AbstractContextManager] | None = None,
    ) -> None:
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels = [id2label[i] for i in range(len(id2label))]
        check_labels(self.labels)
        self.model = model
        self.preprocessor = Preprocessor(tokenizer, preprocessing, segmenter)
        self.pad_id = tokenizer.pad_token_id
        self.device = device
        self.autocast = autocast or nullcontext

    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[SentencePrediction]:
        """Tag each sentence (a list of syllables); ``batch_size`` counts windows per forward pass."""
        spans, tags, scores = self.decode_words(sentences, batch_size)
        return [_sentence(words, word_tags, word_scores) for words, word_tags, word_scores in zip(spans, tags, scores)]

    def decode_words(
        self, sentences: Sequence[Sequence[str]], batch_size: int = 32
    ) -> tuple[list[WordSpans], list[list[str]], list[list[float]]]:
        """Return each sentence's word spans, the model's decoded word tags (before any IOB2 repair) and
        each tag's softmax probability."""
        spans = [self.preprocessor.words(syllables) for syllables in sentences]
        rows = [
            _Row(index, window, encoded["input_ids"], encoded["word_starts"])
            for index, syllables in enumerate(sentences)
            for window, encoded in self.preprocessor.encode(syllables, spans[index])
        ]
        tags, scores = self._decode(self._emissions(rows, len(sentences), batch_size))
        return spans, tags, scores

    def _emissions(self, rows: list[_Row], sentences: int, batch_size: int) -> list[torch.Tensor | None]:
        """Return each sentence's word emissions ``(words, labels)``, each word read from its core window."""
        chunks: list[list[tuple[int, torch.Tensor]]] = [[] for _ in range(sentences)]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids), reverse=True)
        was_training = self.model.training
        self.model.eval()
        device = self.device or next(self.model.parameters()).device
        try:
            with torch.inference_mode():
                for begin in range(0, len(order), batch_size):
                    batch = [rows[i] for i in order[begin : begin + batch_size]]
                    input_ids, attention = self._pad(batch)
                    with self.autocast():
                        logits = self.model.encoder(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
                    for row, values in zip(batch, logits.float()):
                        chunks[row.sentence].append((row.window.core_start, values[row.word_starts]))
        finally:
            self.model.train(was_training)
        return [torch.cat([c for _, c in sorted(parts, key=lambda p: p[0])]) if parts else None for parts in chunks]

    def _pad(self, batch: list[_Row]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(row.input_ids) for row in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            input_ids[i, : len(row.input_ids)] = torch.tensor(row.input_ids)
            attention[i, : len(row.input_ids)] = 1
        return input_ids, attention

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
            probabilities = padded.softmax(-1)
            for row, (i, ids) in enumerate(zip(indices, decoded)):
                tags[i] = [self.labels[t] for t in ids]
                scores[i] = probabilities[row, torch.arange(len(ids)), torch.tensor(ids)].tolist()
        return tags, scores


def _sentence(words: WordSpans, word_tags: list[str], word_scores: list[float]) -> SentencePrediction:
    """Spread word tags over syllables, read entities as ``predict()`` does, and score each entity."""
    tags = iob1_to_iob2(syllable_tags(words, word_tags))
    word_of = [w for w, (a, b) in enumerate(words) for _ in range(a, b)]
    entities = []
    for label, first, last in get_entities(tags):
        covered = sorted(set(word_of[first : last + 1]))
        entities.append(EntitySpan(label, first, last + 1, sum(word_scores[w] for w in covered) / len(covered)))
    return SentencePrediction(tuple(tags), tuple(entities), tuple(words))
