"""Word segmentation for PhoBERT, and the projection of syllable-level labels onto words and back.

PhoBERT was pre-trained on word-segmented text ("Hà_Nội"), while the gold labels are per syllable. A
segmenter groups syllables into words; a word takes the label of its first syllable for training, and a
predicted word label is spread back over its syllables for scoring. Where a segmenter joins syllables
across an entity boundary ("tiếp_bà" is fine, "Nội_Đinh" is not), the word is split at that boundary so
that no gold entity is lost.
"""

from __future__ import annotations

import logging
import shutil
import unicodedata
from collections.abc import Sequence
from typing import Protocol

__all__ = [
    "Segmenter",
    "SyllableSegmenter",
    "UndertheseaSegmenter",
    "PyviSegmenter",
    "VnCoreNLPSegmenter",
    "get_segmenter",
    "split_at_entity_boundaries",
    "word_tags",
    "syllable_tags",
    "join_word",
]

WordSpans = list[tuple[int, int]]
logger = logging.getLogger(__name__)


class Segmenter(Protocol):
    """Groups a sentence's syllables into words."""

    name: str

    def words(self, syllables: Sequence[str]) -> WordSpans:
        """Return ``[start, end)`` syllable-index ranges, one per word, covering ``syllables`` in order."""
        ...


def _is_lexical(syllable: str) -> bool:
    return any(c.isalpha() for c in syllable) and all(c.isalpha() or c in "-'’." for c in syllable)


def _isolate_non_lexical(spans: WordSpans, syllables: Sequence[str]) -> WordSpans:
    """Keep numbers, dates, punctuation, URLs and symbols as words of their own.

    Statistical segmenters sometimes glue them to a neighbour ("Bình_20-22/11/2019"); RDRSegmenter, which
    PhoBERT was pre-trained with, does not, and such a word would cross entity boundaries at inference.
    """
    out: WordSpans = []
    for start, end in spans:
        piece_start = start
        for i in range(start + 1, end):
            if not (_is_lexical(syllables[i]) and _is_lexical(syllables[i - 1])):
                out.append((piece_start, i))
                piece_start = i
        out.append((piece_start, end))
    return out


def _spans_from_pieces(syllables: Sequence[str], pieces: Sequence[str]) -> WordSpans:
    """Map a segmenter's words (``pieces``) back onto syllable indices by character position.

    Segmenters may re-tokenize ("20-22/11/2019" -> "20-22" "/" "11/2019") or respell tone marks ("Hoà" ->
    "Hòa"); only positions are compared, and a word boundary is kept only where it falls on a syllable
    boundary, so each syllable lands in exactly one word.
    """
    # Segmenters join a word's syllables with "_" (pyvi, VnCoreNLP), so underscores are ignored on both
    # sides: a syllable that has its own ("bngoc_022") must not throw the alignment off.
    lengths = [len(s.replace("_", "")) for s in syllables]
    if sum(lengths) != sum(len(p.replace(" ", "").replace("_", "")) for p in pieces):
        # The segmenter changed the text's length: no safe alignment, so each syllable is its own word.
        logger.warning("segmenter output does not align with %d syllables; using syllables as words", len(syllables))
        return [(i, i + 1) for i in range(len(syllables))]
    syllable_at_start: dict[int, int] = {}
    position = 0
    for index, length in enumerate(lengths):
        syllable_at_start[position] = index
        position += length
    boundaries = {0}
    position = 0
    for piece in pieces:
        if position in syllable_at_start:
            boundaries.add(syllable_at_start[position])
        position += len(piece.replace(" ", "").replace("_", ""))
    starts = sorted(boundaries)
    spans = [(start, end) for start, end in zip(starts, starts[1:] + [len(syllables)])]
    return _isolate_non_lexical(spans, syllables)


class SyllableSegmenter:
    """No segmentation: every syllable is a word (for models pre-trained on unsegmented text)."""

    name = "none"

    def words(self, syllables: Sequence[str]) -> WordSpans:
        return [(i, i + 1) for i in range(len(syllables))]


class UndertheseaSegmenter:
    """underthesea's CRF word segmenter; pure Python, its model ships in the wheel, works offline."""

    name = "underthesea"

    def __init__(self) -> None:
        from underthesea import word_tokenize

        self._word_tokenize = word_tokenize

    def words(self, syllables: Sequence[str]) -> WordSpans:
        if not syllables:
            return []
        pieces = self._word_tokenize(" ".join(unicodedata.normalize("NFC", s) for s in syllables))
        return _spans_from_pieces(syllables, pieces)


class PyviSegmenter:
    """pyvi's word segmenter (``pip install pyvi``)."""

    name = "pyvi"

    def __init__(self) -> None:
        try:
            from pyvi import ViTokenizer
        except ImportError:
            raise ImportError("segmenter 'pyvi' needs the pyvi package: pip install pyvi") from None
        self._tokenize = ViTokenizer.tokenize

    def words(self, syllables: Sequence[str]) -> WordSpans:
        if not syllables:
            return []
        pieces = self._tokenize(" ".join(unicodedata.normalize("NFC", s) for s in syllables)).split()
        return _spans_from_pieces(syllables, pieces)


class VnCoreNLPSegmenter:
    """VnCoreNLP's RDRSegmenter, which PhoBERT was pre-trained with (``pip install py_vncorenlp``; needs Java
    and the VnCoreNLP model files in ``model_dir``)."""

    name = "vncorenlp"

    def __init__(self, model_dir: str = "vncorenlp") -> None:
        if shutil.which("java") is None:
            raise RuntimeError("segmenter 'vncorenlp' needs Java on PATH; use segmenter: underthesea instead")
        try:
            import py_vncorenlp
        except ImportError:
            raise ImportError("segmenter 'vncorenlp' needs py_vncorenlp: pip install py_vncorenlp") from None
        self._model = py_vncorenlp.VnCoreNLP(annotators=["wseg"], save_dir=model_dir)

    def words(self, syllables: Sequence[str]) -> WordSpans:
        if not syllables:
            return []
        pieces = " ".join(self._model.word_segment(" ".join(syllables))).split()
        return _spans_from_pieces(syllables, pieces)


_SEGMENTERS = {
    "none": SyllableSegmenter,
    "underthesea": UndertheseaSegmenter,
    "pyvi": PyviSegmenter,
    "vncorenlp": VnCoreNLPSegmenter,
}


def get_segmenter(name: str) -> Segmenter:
    """Return the segmenter called ``name``: ``underthesea`` (default), ``pyvi``, ``vncorenlp`` or ``none``."""
    if name not in _SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose one of {', '.join(_SEGMENTERS)}")
    return _SEGMENTERS[name]()


def split_at_entity_boundaries(spans: WordSpans, tags: Sequence[str]) -> WordSpans:
    """Split words that cross an entity boundary of the syllable ``tags`` (IOB2), so each word lies wholly
    inside one entity or wholly outside all entities."""
    out: WordSpans = []
    for start, end in spans:
        piece_start = start
        for i in range(start + 1, end):
            if tags[i].startswith("B-") or (tags[i] == "O") != (tags[i - 1] == "O") or (
                tags[i] != "O" and tags[i][2:] != tags[i - 1][2:]
            ):
                out.append((piece_start, i))
                piece_start = i
        out.append((piece_start, end))
    return out


def word_tags(spans: WordSpans, tags: Sequence[str]) -> list[str]:
    """Project syllable IOB2 ``tags`` onto words: each word takes the tag of its first syllable."""
    return [tags[start] for start, _ in spans]


def syllable_tags(spans: WordSpans, tags: Sequence[str]) -> list[str]:
    """Project word IOB2 ``tags`` back onto syllables: a word's later syllables continue its entity."""
    out = []
    for (start, end), tag in zip(spans, tags):
        out.append(tag)
        inside = "O" if tag == "O" else "I-" + tag[2:]
        out.extend([inside] * (end - start - 1))
    return out


def join_word(syllables: Sequence[str]) -> str:
    """Return a word as PhoBERT expects it: NFC syllables joined by underscores ("Hà_Nội")."""
    return "_".join(unicodedata.normalize("NFC", s) for s in syllables)
