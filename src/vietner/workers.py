"""The preprocessing stage of prediction, as run in the caller's process or in spawned worker processes.

Kept apart from the model code on purpose: a worker imports this module, vietner.encoding and vietner.text
(plus the segmenter's and tokenizer's own packages), never the model's, so it starts as fast as they allow.
"""

from __future__ import annotations

from typing import Any

from .settings import Preprocessing
from .encoding import EncodedSentence, Preprocessor
from .segment import Segmenter
from .text import TextSpan, syllable_sentences

__all__ = ["PreparedText", "prepare_text", "prepare_texts", "start_worker", "prepare_chunk"]

# One text's sentences (syllable spans into the text) and each sentence segmented and encoded.
PreparedText = tuple[list[list[TextSpan]], list[EncodedSentence]]


def prepare_text(preprocessor: Preprocessor, text: str) -> PreparedText:
    """Everything before the model for one text: its sentences of syllables, each segmented and encoded."""
    return prepare_texts(preprocessor, [text])[0]


def prepare_texts(preprocessor: Preprocessor, texts: list[str]) -> list[PreparedText]:
    """:func:`prepare_text` of each text, all their sentences prepared in one batch
    (:meth:`Preprocessor.prepare_many`: one segmenter call, one tokenizer call)."""
    split = [syllable_sentences(text) for text in texts]
    encoded = iter(preprocessor.prepare_many([[span.text for span in sentence] for sentences in split for sentence in sentences]))
    return [(sentences, [next(encoded) for _ in sentences]) for sentences in split]


_PREPROCESSOR: Preprocessor | None = None


def start_worker(tokenizer: Any, settings: Preprocessing, segmenter: Segmenter) -> None:
    """Initialize a worker process: its own preprocessor (a JVM-based segmenter starts its JVM here, on first use)."""
    global _PREPROCESSOR
    # No sentence cache: a stream rarely repeats a sentence, and the cache would grow with the input.
    _PREPROCESSOR = Preprocessor(tokenizer, settings, segmenter, words_cache=0)
    _PREPROCESSOR.warm_up()


def prepare_chunk(texts: list[str]) -> list[PreparedText]:
    """Prepare a chunk of texts in a worker started by :func:`start_worker`."""
    if _PREPROCESSOR is None:
        raise RuntimeError("prepare_chunk runs in a worker started with start_worker")
    return prepare_texts(_PREPROCESSOR, texts)
