"""Batch inference: raw Vietnamese text in, entity spans with character offsets into the caller's strings out.

A text goes through exactly the preprocessing the model was trained with, read from the model directory's
``vietner.json``: NFC normalization, :func:`vietner.text.split_sentences`, :func:`vietner.text.tokenize`
(syllables), the word segmenter, word-by-word subwords (:class:`vietner.encoding.WordPieces`) and windows
under PhoBERT's 256-token limit (:func:`vietner.encoding.windows`). All windows of all sentences of all
texts are sorted by length and run in dynamically padded batches; each word's prediction is read from the
one window whose core holds it, word tags are spread back over syllables, and entities are decoded from
the syllable IOB2 tags of each sentence with seqeval's ``get_entities``.

Offsets always index the caller's original string: the text is normalized to NFC for the model and the
offsets are mapped back, so NFD input (combining diacritics), non-breaking spaces, tabs and runs of
newlines give spans that slice the original exactly.

``Entity.score`` is the mean, over the words of the entity (the units the model labels: the first subword
of each segmented word), of the softmax probability of the tag predicted for that word. With a CRF head
the tags come from Viterbi decoding over the whole sentence (each word's emissions taken from its core
window) and the score is the mean softmax probability of the emissions for the decoded tags.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, overload

import torch
from seqeval.metrics.sequence_labeling import get_entities

from .corpus import iob1_to_iob2
from .encoding import Window, WordPieces, encode_window, windows
from .metrics import score_modes
from .segment import Segmenter, get_segmenter, join_word, syllable_tags
from .text import Span, split_sentences, tokenize

__all__ = ["Entity", "NerTagger", "TaggedSentence", "evaluate_raw"]

QUANTIZE_MODES = ("dynamic-int8",)


@dataclass(frozen=True)
class Entity:
    """An entity in a caller's text: ``text[start:end] == self.text``; ``score`` in [0, 1] (see module doc)."""

    start: int
    end: int
    label: str
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Return the entity as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence of a caller's text with its syllable tokens (offsets into that text) and their IOB2 tags."""

    start: int
    end: int
    tokens: tuple[Span, ...]
    tags: tuple[str, ...]


# --------------------------------------------------------------------------------------------------------
# Offsets: NFC for the model, original positions for the caller.


def _composes(segment: str, char: str) -> bool:
    # A starter can still compose with what precedes it (Hangul jamo L+V+T, some Indic vowel signs).
    nfc = unicodedata.normalize
    return nfc("NFC", segment + char) != nfc("NFC", segment) + nfc("NFC", char)


def _segments(text: str) -> Iterator[tuple[int, int]]:
    """Cut ``text`` into pieces that normalize independently: a starter and the marks that attach to it."""
    begin = 0
    for i in range(1, len(text)):
        if unicodedata.combining(text[i]) == 0 and not _composes(text[begin:i], text[i]):
            yield begin, i
            begin = i
    if text:
        yield begin, len(text)


class _Aligned:
    """The NFC form of a string, with maps from NFC offsets back to offsets in the original."""

    def __init__(self, original: str) -> None:
        self.original = original
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None
        if unicodedata.is_normalized("NFC", original):
            self.text = original
            return
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = [0]
        for a, b in _segments(original):
            piece = original[a:b]
            normalized = unicodedata.normalize("NFC", piece)
            pieces.append(normalized)
            if normalized == piece:
                starts.extend(range(a, b))
                ends.extend(range(a + 1, b + 1))
            else:
                # A composed piece maps as a whole: any offset inside it widens to the piece's edges, so a
                # span never cuts a base letter from its combining marks.
                starts.extend([a] * len(normalized))
                ends.extend([b] * len(normalized))
        starts.append(len(original))
        self.text = "".join(pieces)
        self._starts, self._ends = starts, ends

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map NFC offsets ``[start, end)`` to offsets in the original string."""
        if self._starts is None or self._ends is None:
            return start, end
        return self._starts[start], self._ends[end]


# --------------------------------------------------------------------------------------------------------
# Model directory.


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but CUDA is not available here; use device='cpu' or device='auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', not {device!r}")
    return resolved


def _quantize_dynamic(model: torch.nn.Module, inplace: bool) -> torch.nn.Module:
    """Dynamic int8 quantization of the Linear layers (weights int8, activations quantized on the fly)."""
    with warnings.catch_warnings():
        # torch.ao.quantization warns that it will move to torchao; it is the documented CPU path here.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=inplace)


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a string or a list of strings, not {type(texts).__name__}")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str")
    return texts


# --------------------------------------------------------------------------------------------------------
# The tagger.


@dataclass
class _Sentence:
    start: int
    end: int
    offsets: list[tuple[int, int]]  # of each syllable, in the original text
    syllables: list[str]  # NFC
    words: list[tuple[int, int]]  # syllable index ranges
    word_tags: list[str] = field(default_factory=list)
    word_scores: list[float] = field(default_factory=list)
    emissions: list[torch.Tensor] = field(default_factory=list)  # per word, CRF head only


@dataclass(frozen=True)
class _Sequence:
    sentence: _Sentence
    window: Window
    input_ids: list[int]
    positions: list[int]  # first-subword position of each word in the window


class NerTagger:
    """A PhoBERT token classifier served with the preprocessing it was trained with.

    Build it with :meth:`from_pretrained` from a directory written by ``train.py``; ``predict`` takes raw
    text. The constructor takes an in-memory model and tokenizer (e.g. straight after training).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        segmenter: str | Segmenter = "underthesea",
        *,
        max_length: int = 256,
        overlap: int = 64,
        max_pieces_per_word: int = 32,
        crf: torch.nn.Module | None = None,
        device: str | torch.device = "cpu",
        quantize: str | None = None,
    ) -> None:
        """``model``: a transformers token classifier, or a ``vietner.modeling.NerModel`` (its CRF head is
        used unless ``crf`` is given). The keyword settings are those of the model's ``vietner.json``."""
        if quantize is not None and quantize not in QUANTIZE_MODES:
            raise ValueError(f"quantize must be None or one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
        self.device = _resolve_device(device)
        if hasattr(model, "encoder") and hasattr(model, "crf"):  # NerModel: encoder plus optional CRF
            crf = crf if crf is not None else model.crf
            model = model.encoder
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels = [id2label[i] for i in range(len(id2label))]
        for label in self.labels:
            if label != "O" and label[:2] not in ("B-", "I-"):
                raise ValueError(f"label {label!r} is not IOB2 (O, B-TYPE, I-TYPE); set model.config.id2label")
        # Positions are offset by padding_idx + 1 in RoBERTa: PhoBERT's 258 embeddings give 256 tokens.
        position_limit = getattr(model.config, "max_position_embeddings", max_length + 2) - (
            (model.config.pad_token_id or 0) + 1 if model.config.model_type in ("roberta", "xlm-roberta") else 0
        )
        self.max_length = min(int(max_length), position_limit)
        if self.max_length < 3:
            raise ValueError(f"max_length {self.max_length} leaves no room for text between <s> and </s>")
        max_pieces = self.max_length - 2
        self.overlap = max(0, min(int(overlap), max_pieces - 1))
        self.tokenizer = tokenizer
        self.pieces = WordPieces(tokenizer, max_pieces_per_word=min(int(max_pieces_per_word), max_pieces))
        self.segmenter = get_segmenter(segmenter) if isinstance(segmenter, str) else segmenter
        model = model.eval()
        if quantize == "dynamic-int8":
            if self.device.type != "cpu":
                raise ValueError("quantize='dynamic-int8' runs on CPU only; use device='cpu'")
            if any(isinstance(m, torch.nn.Linear) for m in model.modules()):
                model = _quantize_dynamic(model, inplace=False)  # the caller's model stays as it was
        self.quantize = quantize
        self.model = model.to(self.device)
        self.crf = crf.eval().to(self.device) if crf is not None else None

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", quantize: str | None = None
    ) -> NerTagger:
        """Load a model directory written by ``train.py`` (transformers files, ``vietner.json``, CRF head).

        ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available). ``quantize="dynamic-int8"``
        applies torch dynamic int8 quantization to the Linear layers (CPU only). Raises
        ``FileNotFoundError`` for a missing directory and ``vietner.modeling.ModelLoadError`` (an
        ``OSError``) for one that is not a model directory.
        """
        from .modeling import load_model_dir

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such model directory")
        _resolve_device(device)  # fail on a bad device before loading anything
        loaded = load_model_dir(path)
        settings = loaded.settings
        if quantize == "dynamic-int8" and _resolve_device(device).type == "cpu":
            # In place: a quantized copy would hold both models in memory at once.
            _quantize_dynamic(loaded.model.encoder, inplace=True)
        return cls(
            loaded.model,
            loaded.tokenizer,
            settings.segmenter,
            max_length=settings.max_length,
            overlap=settings.window_overlap,
            max_pieces_per_word=settings.max_pieces_per_word,
            device=device,
            quantize=quantize,
        )

    # -- preprocessing -------------------------------------------------------------------------------------

    def _sentences(self, text: str) -> list[_Sentence]:
        aligned = _Aligned(text)
        out = []
        for sentence in split_sentences(aligned.text):
            spans = tokenize(sentence.text)
            if not spans:
                continue
            syllables = [span.text for span in spans]
            offsets = [aligned.span(sentence.start + s.start, sentence.start + s.end) for s in spans]
            words = self.segmenter.words(syllables)
            out.append(_Sentence(offsets[0][0], offsets[-1][1], offsets, syllables, words))
        return out

    def _sequences(self, sentence: _Sentence) -> list[_Sequence]:
        words = [join_word(sentence.syllables[a:b]) for a, b in sentence.words]
        pieces = self.pieces(words)
        sequences = []
        for window in windows([len(p) for p in pieces], self.max_length - 2, self.overlap):
            encoded = encode_window(pieces, window, self.tokenizer.bos_token_id, self.tokenizer.eos_token_id)
            positions, position = [], 1
            for word in range(window.start, window.end):
                positions.append(position)
                position += len(pieces[word])
            sequences.append(_Sequence(sentence, window, encoded["input_ids"], positions))
        sentence.word_tags = ["O"] * len(words)
        sentence.word_scores = [0.0] * len(words)
        sentence.emissions = [None] * len(words) if self.crf is not None else []
        return sequences

    # -- model ---------------------------------------------------------------------------------------------

    def _run(self, sequences: list[_Sequence], batch_size: int) -> None:
        """Label every word of every sequence's core, in length-sorted, dynamically padded batches."""
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].input_ids), reverse=True)
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                batch = [sequences[i] for i in order[begin : begin + batch_size]]
                width = max(len(s.input_ids) for s in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for row, sequence in enumerate(batch):
                    input_ids[row, : len(sequence.input_ids)] = torch.tensor(sequence.input_ids)
                    attention[row, : len(sequence.input_ids)] = 1
                logits = self.model(
                    input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device)
                ).logits.float()
                self._read_out(batch, logits)

    def _read_out(self, batch: list[_Sequence], logits: torch.Tensor) -> None:
        rows = torch.tensor([row for row, s in enumerate(batch) for _ in s.positions], device=logits.device)
        cols = torch.tensor([p for s in batch for p in s.positions], device=logits.device)
        emissions = logits[rows, cols]  # (words in batch, labels), word by word in batch order
        if self.crf is None:
            scores, tags = emissions.softmax(-1).max(-1)
            tag_list, score_list = tags.tolist(), scores.tolist()
        else:
            emissions = emissions.cpu()
        offset = 0
        for sequence in batch:
            window, sentence = sequence.window, sequence.sentence
            for word in range(window.core_start, window.core_end):
                k = offset + word - window.start
                if self.crf is None:
                    sentence.word_tags[word] = self.labels[tag_list[k]]
                    sentence.word_scores[word] = score_list[k]
                else:
                    sentence.emissions[word] = emissions[k]
            offset += len(sequence.positions)

    def _decode_crf(self, sentences: list[_Sentence], batch_size: int = 256) -> None:
        """Viterbi over each whole sentence, from the emissions each word got in its core window, so that the
        CRF's transitions also hold across window edges."""
        assert self.crf is not None
        with torch.inference_mode():
            for begin in range(0, len(sentences), batch_size):
                batch = sentences[begin : begin + batch_size]
                width = max(len(s.emissions) for s in batch)
                padded = torch.zeros((len(batch), width, len(self.labels)))
                mask = torch.zeros((len(batch), width), dtype=torch.bool)
                for row, sentence in enumerate(batch):
                    padded[row, : len(sentence.emissions)] = torch.stack(sentence.emissions)
                    mask[row, : len(sentence.emissions)] = True
                decoded = self.crf.decode(padded.to(self.device), mask.to(self.device))
                probs = padded.softmax(-1)
                for row, (sentence, tags) in enumerate(zip(batch, decoded)):
                    sentence.word_tags = [self.labels[t] for t in tags]
                    sentence.word_scores = probs[row, torch.arange(len(tags)), torch.tensor(tags)].tolist()

    def _tag(self, texts: list[str], batch_size: int) -> list[list[_Sentence]]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
        documents = [self._sentences(text) for text in texts]
        sequences = [seq for sentences in documents for sentence in sentences for seq in self._sequences(sentence)]
        self._run(sequences, batch_size)
        if self.crf is not None:
            self._decode_crf([sentence for sentences in documents for sentence in sentences])
        return documents

    # -- public --------------------------------------------------------------------------------------------

    @overload
    def predict(self, texts: str, batch_size: int = 32) -> list[Entity]: ...

    @overload
    def predict(self, texts: Iterable[str], batch_size: int = 32) -> list[list[Entity]]: ...

    def predict(self, texts: str | Iterable[str], batch_size: int = 32) -> list[Entity] | list[list[Entity]]:
        """Return the entities of each text, in text order, with offsets into that text.

        ``texts`` is a list (or any iterable) of strings; a bare string is taken as one text and its list of
        entities is returned directly (as transformers pipelines do). Empty and whitespace-only texts give
        ``[]``; a non-string element raises ``TypeError`` naming its index. ``batch_size`` counts windows
        (one per sentence of up to 254 subwords) per forward pass.
        """
        single = isinstance(texts, str)
        checked = _check_texts([texts] if single else texts)
        documents = self._tag(checked, batch_size)
        results = [self._entities(text, sentences) for text, sentences in zip(checked, documents)]
        return results[0] if single else results

    def predict_tags(self, texts: str | Iterable[str], batch_size: int = 32) -> list[list[TaggedSentence]]:
        """Return each text's sentences with their syllable tokens and predicted IOB2 tags (for CoNLL output).

        Unlike :meth:`predict`, a bare string gives a one-element list.
        """
        checked = _check_texts([texts] if isinstance(texts, str) else texts)
        documents = self._tag(checked, batch_size)
        return [
            [
                TaggedSentence(
                    s.start,
                    s.end,
                    tuple(Span(text[a:b], a, b) for a, b in s.offsets),
                    # Repaired to valid IOB2 (an I- that opens an entity becomes B-): the entities
                    # these tags spell are exactly the ones predict() returns.
                    tuple(iob1_to_iob2(syllable_tags(s.words, s.word_tags))),
                )
                for s in sentences
            ]
            for text, sentences in zip(checked, documents)
        ]

    @staticmethod
    def _entities(text: str, sentences: list[_Sentence]) -> list[Entity]:
        entities = []
        for sentence in sentences:
            tags = syllable_tags(sentence.words, sentence.word_tags)
            word_of = [w for w, (a, b) in enumerate(sentence.words) for _ in range(a, b)]
            for label, first, last in get_entities(tags):
                start, end = sentence.offsets[first][0], sentence.offsets[last][1]
                covered = sorted(set(word_of[first : last + 1]))
                score = sum(sentence.word_scores[w] for w in covered) / len(covered)
                entities.append(Entity(start, end, label, text[start:end], score))
        return entities


def evaluate_raw(
    tagger: NerTagger, sentences: Sequence[Any], batch_size: int = 32
) -> dict[str, Any]:
    """Score ``tagger`` on gold ``vietner.corpus.Sentence`` records through the raw-text path.

    Each sentence's raw ``text`` is predicted as a text of its own; the predicted syllable tags are compared
    with the gold tags by seqeval: ``precision``/``recall``/``f1`` in default mode (the entities ``predict``
    returns) and ``f1_strict`` in IOB2 strict mode. Sentences whose raw text does not re-tokenize into the
    gold tokens are counted in ``token_mismatches`` and scored as all-``O``.
    """
    texts = [sentence.text for sentence in sentences]
    if any(not text for text in texts):
        raise ValueError("every sentence needs its raw text (the '# text = ' line) to be scored through raw text")
    # The model's own tags, not repaired to IOB2: default mode then scores the entities predict() returns,
    # and strict mode scores what training's strict evaluation scores.
    documents = tagger._tag(_check_texts(texts), batch_size)
    gold_tags, predicted_tags, mismatches = [], [], 0
    for sentence, tagged in zip(sentences, documents):
        tokens = [syllable for s in tagged for syllable in s.syllables]
        tags = [tag for s in tagged for tag in syllable_tags(s.words, s.word_tags)]
        if tokens != [unicodedata.normalize("NFC", t) for t in sentence.tokens]:
            mismatches += 1
            tags = ["O"] * len(sentence.tokens)
        gold_tags.append(list(sentence.tags))
        predicted_tags.append(tags)
    scores = score_modes(gold_tags, predicted_tags)
    default = scores["default"]["overall"]
    return {
        "sentences": len(sentences),
        "token_mismatches": mismatches,
        "precision": default["precision"],
        "recall": default["recall"],
        "f1": default["f1"],
        "f1_strict": scores["strict"]["overall"]["f1"],
    }
