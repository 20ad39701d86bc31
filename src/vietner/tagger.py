"""Batch inference: raw Vietnamese text in, entity spans with character offsets into the caller's strings out.

``NerTagger`` loads a model directory written by ``train.py`` and serves it with the preprocessing recorded in
its ``vietner.json``; the work is :class:`vietner.predictor.Predictor`'s, the same core that made every score
``train.py`` and ``evaluate.py`` report. A text is split into sentences of syllables
(:func:`vietner.text.syllable_sentences`, NFC for the model with offsets into the original), all sentences
of all texts are tagged together, and each entity's syllable span becomes a character span.

``Entity.score`` is the mean, over the words of the entity (the units the model labels: the first subword
of each segmented word), of the softmax probability of the tag decoded for that word. With a CRF head the
tags come from Viterbi decoding over the whole sentence.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import torch

from .settings import ConfigError, Preprocessing, position_limit
from .streaming import TaggedText, TextPipeline, default_workers
from .encoding import Preprocessor
from .predictor import Predictor, SentencePrediction
from .segment import Segmenter
from .spans import Entity, to_entity
from .text import TextSpan

__all__ = ["Entity", "NerTagger", "TaggedSentence"]

QUANTIZE_MODES = ("dynamic-int8",)
# Autocast precisions: fp16 needs CUDA; bf16 runs on CUDA and (slower, for checking) on CPU.
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence of a caller's text with its syllable tokens (offsets into that text) and their IOB2 tags."""

    start: int
    end: int
    tokens: tuple[TextSpan, ...]
    tags: tuple[str, ...]


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


def _check_iterable(texts: Any) -> None:
    # A dict iterates over its keys: {"text": ...} would silently be tagged as the word "text".
    if isinstance(texts, (bytes, bytearray, Mapping)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a string or a list of strings, not {type(texts).__name__}")


def _check_text(index: int, text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"texts[{index}] is {type(text).__name__}, not str")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"texts[{index}] has a lone surrogate at character {error.start}: not valid Unicode text") from None
    return text


def _check_texts(texts: Any) -> list[str]:
    _check_iterable(texts)
    return [_check_text(index, text) for index, text in enumerate(texts)]


def _autocast(device: torch.device, dtype: str) -> Any:
    """The autocast context factory for ``dtype`` on ``device`` (None for fp32)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dtype == "fp16" and device.type != "cuda":
        raise ValueError("dtype='fp16' needs a CUDA device; use bf16 or fp32 on CPU")
    return None if DTYPES[dtype] is None else functools.partial(torch.autocast, device.type, DTYPES[dtype])


class NerTagger:
    """A trained vietner model served with the preprocessing it was trained with.

    Build it with :meth:`from_pretrained` from a directory written by ``train.py``; ``predict`` takes raw
    text, ``predict_tokens`` sentences already split into syllables (a CoNLL file's tokens). The
    constructor takes an in-memory ``NerModel`` (or a transformers token classifier) and tokenizer.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        preprocessing: Preprocessing | None = None,
        *,
        segmenter: Segmenter | None = None,
        device: str | torch.device = "cpu",
        quantize: str | None = None,
        dtype: str = "fp32",
        preprocessor: Preprocessor | None = None,
    ) -> None:
        """``preprocessing``: the model's ``vietner.json`` settings (default: ``Preprocessing()`` within the
        model's position limit), checked
        against the model's position limit; ``segmenter`` overrides the one it names (an instance);
        ``dtype``: ``fp32``, or ``bf16``/``fp16`` autocast around each forward pass; ``preprocessor``: a
        :class:`vietner.encoding.Preprocessor` to share (``train.py`` scores with its own, so a sentence is
        segmented once per run), whose settings are then the preprocessing."""
        from .modeling import NerModel

        if quantize is not None and quantize not in QUANTIZE_MODES:
            raise ValueError(f"quantize must be None or one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
        self.device = _resolve_device(device)
        autocast = _autocast(self.device, dtype)
        if quantize is not None and dtype != "fp32":
            raise ValueError("quantize='dynamic-int8' runs in fp32; leave dtype='fp32'")
        if not isinstance(model, NerModel):
            model = NerModel(model)
        if preprocessor is not None:
            preprocessing = preprocessor.settings
        if preprocessing is None:  # defaults, within the model's own position limit
            limit = position_limit(model.config) or 256
            preprocessing = Preprocessing(max_length=min(256, limit), window_overlap=min(64, limit // 4), max_pieces_per_word=min(32, limit - 2))
        try:
            preprocessing.check(prefix="preprocessing.")
            preprocessing.check_model(model.config, prefix="preprocessing.")
        except ConfigError as error:
            raise ValueError(str(error)) from None
        if quantize == "dynamic-int8":
            if self.device.type != "cpu":
                raise ValueError("quantize='dynamic-int8' runs on CPU only; use device='cpu'")
            model = _quantized(model)
        self.quantize = quantize
        self.dtype = dtype
        self.preprocessing = preprocessing
        self.model = model.eval().to(self.device)
        if preprocessor is None:
            # No per-sentence segmentation cache: raw text rarely repeats a sentence, and it would grow with a stream.
            preprocessor = Preprocessor(tokenizer, preprocessing, segmenter, words_cache=0)
        self.predictor = Predictor(self.model, preprocessor, self.device, autocast)
        self.labels = self.predictor.labels
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str | torch.device = "cpu", quantize: str | None = None, dtype: str = "fp32"
    ) -> NerTagger:
        """Load a model directory written by ``train.py`` (transformers files, ``vietner.json``, CRF head).

        ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available). ``quantize="dynamic-int8"``
        applies torch dynamic int8 quantization to the Linear layers (CPU only). Raises
        ``FileNotFoundError`` for a missing directory and ``vietner.vocabulary.ModelLoadError`` (an
        ``OSError``) for one that is not a model directory.
        """
        from .modeling import load_model_dir

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such model directory")
        _resolve_device(device)  # fail on a bad device before loading anything
        loaded = load_model_dir(path)
        if quantize == "dynamic-int8" and _resolve_device(device).type == "cpu":
            # In place: a quantized copy would hold both models in memory at once.
            _quantize_dynamic(loaded.model.encoder, inplace=True)
        return cls(loaded.model, loaded.tokenizer, loaded.settings.preprocessing, device=device, quantize=quantize, dtype=dtype)

    @overload
    def predict(self, texts: str, batch_size: int = 32, **options: Any) -> list[Entity]: ...

    @overload
    def predict(self, texts: Iterable[str], batch_size: int = 32, **options: Any) -> list[list[Entity]]: ...

    def predict(
        self, texts: str | Iterable[str], batch_size: int = 32, *, num_workers: int | None = None, max_tokens: int | None = None
    ) -> list[Entity] | list[list[Entity]]:
        """Return the entities of each text, in text order, with offsets into that text.

        ``texts`` is a list (or any iterable) of strings; a bare string is taken as one text and its list of
        entities is returned directly (as transformers pipelines do). Empty and whitespace-only texts give
        ``[]``; a non-string element raises ``TypeError`` naming its index. ``batch_size`` counts windows
        (one per sentence of up to 254 subwords) per forward pass; ``max_tokens`` also bounds the padded
        positions of one. ``num_workers``: processes for the preprocessing (0: this one; None: 0 for small
        inputs, else one per core); the output is the same for any number.
        """
        single = isinstance(texts, str)
        checked = _check_texts([texts] if single else texts)
        results = [to_entities(text, tagged) for text, tagged in self._tag_texts(checked, batch_size, num_workers, max_tokens)]
        return results[0] if single else results

    def predict_tags(
        self, texts: str | Iterable[str], batch_size: int = 32, *, num_workers: int | None = None, max_tokens: int | None = None
    ) -> list[list[TaggedSentence]]:
        """Return each text's sentences with their syllable tokens (offsets into the text) and IOB2 tags,
        which spell exactly the entities :meth:`predict` returns. A bare string gives a one-element list."""
        checked = _check_texts([texts] if isinstance(texts, str) else texts)
        return [to_tagged_sentences(text, tagged) for text, tagged in self._tag_texts(checked, batch_size, num_workers, max_tokens)]

    def stream(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        *,
        num_workers: int = 0,
        max_tokens: int | None = None,
        tags: bool = False,
    ) -> Iterator[list[Entity]] | Iterator[list[TaggedSentence]]:
        """Yield each text's entities (with ``tags``: its tagged sentences, as :meth:`predict_tags`), in input
        order, reading ``texts`` lazily: a generator or a file of any size goes through in bounded memory
        (at most ``vietner.streaming.CHUNK_DOCUMENTS`` documents per chunk, two chunks per worker in flight).
        Options as :meth:`predict`; a bad element raises when it is reached, naming its index."""
        _check_iterable(texts)
        if isinstance(texts, str):
            raise TypeError("stream() takes an iterable of texts; use predict() for one string")
        pipeline = self.pipeline(num_workers, batch_size, max_tokens)  # arguments checked now, not at first next()
        return self._stream(pipeline, texts, to_tagged_sentences if tags else to_entities)

    @staticmethod
    def _stream(pipeline: TextPipeline, texts: Iterable[str], convert: Callable[[str, TaggedText], Any]) -> Iterator[Any]:
        with pipeline:
            for text, tagged in pipeline.stream(_check_text(i, t) for i, t in enumerate(texts)):
                yield convert(text, tagged)

    def pipeline(self, num_workers: int = 0, batch_size: int = 32, max_tokens: int | None = None) -> TextPipeline:
        """A :class:`vietner.streaming.TextPipeline` on this tagger's model (a context manager; its
        ``stream(items, text=...)`` carries any item along with the tags of its text)."""
        _check_batch_size(batch_size)
        return TextPipeline(self.predictor, num_workers, batch_size, max_tokens)

    def predict_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[SentencePrediction]:
        """Tag sentences already split into syllable tokens (a CoNLL file's), one prediction per sentence."""
        _check_batch_size(batch_size)
        return self.predictor.predict([list(tokens) for tokens in sentences], batch_size)

    def _tag_texts(
        self, texts: list[str], batch_size: int, num_workers: int | None, max_tokens: int | None
    ) -> list[tuple[str, TaggedText]]:
        if num_workers is None:
            num_workers = default_workers(sum(map(len, texts)))
        with self.pipeline(num_workers, batch_size, max_tokens) as pipeline:
            return list(pipeline.stream(texts))


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")


def _quantized(model: torch.nn.Module) -> torch.nn.Module:
    """A dynamic-int8 copy of ``model``'s encoder (the caller's model stays as it was), already-quantized as is."""
    from .modeling import NerModel

    if not any(isinstance(m, torch.nn.Linear) for m in model.encoder.modules()):
        return model
    quantized = NerModel(_quantize_dynamic(model.encoder, inplace=False))
    quantized.head, quantized.crf = model.head, model.crf  # the CRF's transitions are not Linear layers
    return quantized


def to_tagged_sentences(text: str, tagged: TaggedText) -> list[TaggedSentence]:
    """A text's sentences with their syllable tokens (offsets into the text) and IOB2 tags."""
    return [
        TaggedSentence(s[0].start, s[-1].end, tuple(TextSpan(text[t.start : t.end], t.start, t.end) for t in s), p.tags)
        for s, p in tagged
    ]


def to_entities(text: str, tagged: TaggedText) -> list[Entity]:
    """Character-offset entities of a text from its sentences' syllable spans and predictions."""
    out = []
    for syllables, prediction in tagged:
        offsets = [(s.start, s.end) for s in syllables]
        out += [to_entity(span, offsets, text) for span in prediction.entities]
    return out
