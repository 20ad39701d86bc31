"""Word segmentation for PhoBERT, and the projection of syllable-level labels onto words and back.

PhoBERT was pre-trained on word-segmented text ("Hà_Nội"), while the gold labels are per syllable. A
segmenter groups syllables into words; a word takes the label of its first syllable for training, and a
predicted word label is spread back over its syllables for scoring. Where a segmenter joins syllables
across an entity boundary ("tiếp_bà" is fine, "Nội_Đinh" is not), the word is split at that boundary so
that no gold entity is lost.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import operator
import os
import threading
import unicodedata
from collections.abc import Callable, Sequence
from itertools import accumulate, compress
from pathlib import Path
from typing import Any, Protocol

from .schema import nfc
from .text import bigram_sentences

__all__ = [
    "Segmenter",
    "SyllableSegmenter",
    "UndertheseaSegmenter",
    "PyviSegmenter",
    "RDRSegmenter",
    "get_segmenter",
    "segment_many",
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


@functools.lru_cache(maxsize=1 << 16)  # news text repeats its syllables: each is judged once
def _is_lexical(syllable: str) -> bool:
    # NFC first: in NFD a tone is a combining mark, which is not alphabetic.
    syllable = nfc(syllable)
    return any(c.isalpha() for c in syllable) and all(c.isalpha() or c in "-'’." for c in syllable)


def _spans_from_pieces(syllables: Sequence[str], pieces: Sequence[str]) -> WordSpans:
    """Map a segmenter's words (``pieces``) back onto syllable indices by character position.

    Segmenters may re-tokenize ("20-22/11/2019" -> "20-22" "/" "11/2019") or respell tone marks ("Hoà" ->
    "Hòa"); only positions are compared, and a word boundary is kept only where it falls on a syllable
    boundary, so each syllable lands in exactly one word. Numbers, dates, punctuation, URLs and symbols are
    then kept as words of their own: statistical segmenters sometimes glue them to a neighbour
    ("Bình_20-22/11/2019"); RDRSegmenter, which PhoBERT was pre-trained with, does not, and such a word would
    cross entity boundaries at inference.
    """
    # Segmenters join a word's syllables with "_" (pyvi, VnCoreNLP), so underscores are ignored on both
    # sides: a syllable that has its own ("bngoc_022") must not throw the alignment off.
    # Segmenters get NFC text; NFD syllables are measured in NFC too, or their lengths would never match.
    if "_" in (line := " ".join(syllables)) or not unicodedata.is_normalized("NFC", line):
        lengths = [len(nfc(s).replace("_", "")) for s in syllables]
    else:  # already NFC, no underscore: the same lengths without a Python loop
        lengths = list(map(len, syllables))
    piece_lengths = [len(p) - p.count(" ") - p.count("_") for p in pieces]
    if sum(lengths) != sum(piece_lengths):
        # The segmenter changed the text's length: no safe alignment, so each syllable is its own word.
        logger.warning("segmenter output does not align with %d syllables; using syllables as words", len(syllables))
        return [(i, i + 1) for i in range(len(syllables))]
    n = len(syllables)
    # Character position -> the syllable starting there (the last one, where empty syllables share it).
    syllable_at = dict(zip(accumulate(lengths, initial=0), range(n)))
    piece_starts = set(accumulate(piece_lengths[:-1], initial=0)) if pieces else set()
    boundaries = {0, *(syllable_at[p] for p in piece_starts & syllable_at.keys())}
    # A cut between two syllables unless both are lexical: before and after each non-lexical one.
    for i in compress(range(n), map(operator.not_, map(_is_lexical, syllables))):
        boundaries.update((i, i + 1))
    boundaries.discard(n)
    starts = sorted(boundaries)
    return list(zip(starts, starts[1:] + [n]))


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
        pieces = self._word_tokenize(" ".join(nfc(s) for s in syllables))
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
        pieces = self._tokenize(" ".join(nfc(s) for s in syllables)).split()
        return _spans_from_pieces(syllables, pieces)


# Where each process's started JVM and loaded RDRSegmenters live: never in a segmenter's own state, so a
# segmenter pickles to worker processes as plain settings and each process loads its own.
_JVM_PID: int | None = None
_RDR_LOADED: dict[tuple[str, str, str], Any] = {}
_RDR_LOCK = threading.Lock()
_RDR_FILES = ("rdrsegmenter.jar", "wordsegmenter.rdr", "vi-vocab")
# RDRSegmenter.warm_up: syllables segmented before the first real sentence (3-5 s on one core).
JVM_WARM_UP_SYLLABLES = 200_000
WARM_UP_BATCH = 100  # sentences per JVM call in the warm-up
# Without these, the JVM's optimizing compiler treats every branch RDRSegmenter has not yet taken as never
# taken; new text takes one (a rare word, a hash collision in its dictionary), the compiled code is thrown
# away and compiled again, 0.7 s on the same core each time, and the first 100,000 syllables of new text
# after a warm-up ran at about half the speed of later ones (benchmarks/README.md).
JIT_OPTIONS = ("-XX:PerMethodTrapLimit=0", "-XX:PerBytecodeTrapLimit=0")
_RDR_INSTALL = 'pip install "vietner[rdrsegmenter]" (or: pip install python-rdrsegmenter jpype1)'


def _rdrsegmenter_dir(directory: str | None) -> Path:
    """Return the folder holding RDRSegmenter's jar, rules and vocabulary: ``directory`` or the wheel's."""
    if directory is None:
        # Located, not imported: the wheel's own module would pull in pyjnius, a second JVM bridge.
        spec = importlib.util.find_spec("python_rdrsegmenter")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"segmenter 'rdrsegmenter' needs the python-rdrsegmenter wheel (GPL-3.0): {_RDR_INSTALL}")
        directory = spec.submodule_search_locations[0]
    folder = Path(directory)
    missing = [name for name in _RDR_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"segmenter 'rdrsegmenter': {', '.join(missing)} not found in {folder}")
    return folder


def _find_jvm(jvm_path: str | None) -> str:
    """Return the JVM library to start: ``jvm_path``, or the one JPype finds (JAVA_HOME, ``java`` on PATH)."""
    try:
        import jpype
    except ImportError:
        raise ImportError(f"segmenter 'rdrsegmenter' needs the jpype1 Java bridge: {_RDR_INSTALL}") from None
    if jvm_path is not None:
        if not Path(jvm_path).is_file():
            raise FileNotFoundError(f"segmenter 'rdrsegmenter': JVM library {jvm_path} not found (data.jvm_path)")
        return jvm_path
    try:
        return jpype.getDefaultJVMPath()
    except jpype.JVMNotFoundException:
        raise RuntimeError(
            "segmenter 'rdrsegmenter' needs a Java runtime: apt-get install default-jre-headless "
            "(or set JAVA_HOME, or data.jvm_path to libjvm.so)"
        ) from None


class RDRSegmenter:
    """VnCoreNLP's RDRSegmenter, the segmenter PhoBERT's pre-training text went through; offline.

    Its files (GPL-3.0) come from the optional ``python-rdrsegmenter`` wheel, never from this repository;
    JPype runs them in a JVM started on first use, in the process that segments. Until then the object is
    plain settings, so it can be pickled to worker processes. Like RDRSegmenter, it respells tone marks
    ("Ủy viên" -> "Uỷ_viên"); only the word boundaries are returned.
    """

    name = "rdrsegmenter"

    def __init__(self, rdrsegmenter_dir: str | None = None, jvm_path: str | None = None, jvm_options: str = "") -> None:
        # Everything that can be missing is checked now, so a run fails before its first sentence.
        self.directory = str(_rdrsegmenter_dir(rdrsegmenter_dir))
        self.jvm_path = _find_jvm(jvm_path)
        self.jvm_options = jvm_options

    def _segmenter(self) -> Any:
        """Return this process's Java ``WordSegmenter`` for these files, starting the JVM if need be."""
        global _JVM_PID
        import jpype

        folder = Path(self.directory)
        key = (str(folder), self.jvm_path, self.jvm_options)
        with _RDR_LOCK:
            if _JVM_PID is not None and _JVM_PID != os.getpid():
                # A forked child inherits a JVM it cannot use: calls would hang or crash.
                raise RuntimeError(
                    "segmenter 'rdrsegmenter': the JVM was started before this process was forked; start "
                    "worker processes with the 'spawn' method, or before the first sentence is segmented"
                )
            if key not in _RDR_LOADED:
                jar = str(folder / "rdrsegmenter.jar")
                if not jpype.isJVMStarted():
                    # -Xrs and interrupt=False leave SIGTERM and ^C to Python: a worker pool's terminate() must
                    # kill its workers, not run the JVM's shutdown hooks into a dying interpreter (SIGSEGV).
                    options = ["-Xrs", *JIT_OPTIONS, *self.jvm_options.split()]
                    jpype.startJVM(*options, jvmpath=self.jvm_path, classpath=[jar], interrupt=False)
                _JVM_PID = os.getpid()
                # A class loader of its own: the JVM may have been started without this jar on its classpath.
                url = jpype.JClass("java.io.File")(jar).toURI().toURL()
                loader = jpype.JClass("java.net.URLClassLoader")([url])
                vocabulary = jpype.JClass("corenlp.rdrsegmenter.Vocabulary", loader=loader)(str(folder / "vi-vocab"))
                word_segmenter = jpype.JClass("corenlp.rdrsegmenter.WordSegmenter", loader=loader)
                _RDR_LOADED[key] = word_segmenter(str(folder / "wordsegmenter.rdr"), vocabulary)
            return _RDR_LOADED[key]

    def segment(self, syllables: Sequence[str]) -> str:
        """Return RDRSegmenter's output for the NFC syllables: words of ``_``-joined syllables, space-separated."""
        return str(self._segmenter().segmentTokenizedString(" ".join(nfc(s) for s in syllables)))

    def segment_many(self, sentences: Sequence[Sequence[str]]) -> list[str]:
        """Return :meth:`segment` of each sentence, many sentences per call into the JVM.

        The JVM applies the very method :meth:`segment` calls to each sentence on its own (a stream mapped
        through it), so every sentence gets exactly its own output; only the crossing is shared."""
        lines = [_nfc_line(syllables) for syllables in sentences]
        # A line must survive the newline join and split: not empty (a trailing empty one would be dropped)
        # and holding no newline of its own (a caller's token may); such lines go one by one.
        batched = [i for i, line in enumerate(lines) if line and "\n" not in line]
        out = [""] * len(lines)
        if batched:
            joined = str(_rdr_batch(self._segmenter())("\n".join(lines[i] for i in batched)))
            for i, segmented in zip(batched, joined.split("\n"), strict=True):
                out[i] = segmented
        for i in sorted(set(range(len(lines))) - set(batched)):
            out[i] = str(self._segmenter().segmentTokenizedString(lines[i]))
        return out

    def words(self, syllables: Sequence[str]) -> WordSpans:
        if not syllables:
            return []
        return _spans_from_pieces(syllables, self.segment(syllables).split())

    def warm_up(self, sentences: Sequence[Sequence[str]]) -> None:
        """Start the JVM and segment ``JVM_WARM_UP_SYLLABLES`` syllables of new sentences drawn from
        ``sentences`` (a syllable bigram model, fixed seed), so the JVM has compiled RDRSegmenter's code before
        the first real sentence: the first few thousand sentences run several times slower."""
        if sentences and isinstance(sentences[0], str):
            raise TypeError("RDRSegmenter.warm_up takes sentences (lists of syllables), not one list of syllables")
        self._segmenter()
        batch: list[list[str]] = []
        for sentence in bigram_sentences(sentences, JVM_WARM_UP_SYLLABLES):
            batch.append(sentence)
            if len(batch) == WARM_UP_BATCH:
                self.segment_many(batch)
                batch = []
        self.segment_many(batch)

    def words_many(self, sentences: Sequence[Sequence[str]]) -> list[WordSpans]:
        """:meth:`words` of each sentence, segmented together (see :meth:`segment_many`)."""
        present = [i for i, syllables in enumerate(sentences) if syllables]
        out: list[WordSpans] = [[] for _ in sentences]
        for i, segmented in zip(present, self.segment_many([sentences[i] for i in present])):
            out[i] = _spans_from_pieces(sentences[i], segmented.split())
        return out


_RDR_BATCH: dict[int, Callable[[str], Any]] = {}


def _rdr_batch(word_segmenter: Any) -> Callable[[str], Any]:
    """A function of the JVM that segments every line of a string with ``word_segmenter`` and joins the
    outputs with newlines: ``segmentTokenizedString`` mapped over the lines by a Java stream, so a whole batch
    costs two crossings of the bridge instead of one per sentence."""
    key = id(word_segmenter)
    if key not in _RDR_BATCH:
        import jpype

        string = jpype.JClass("java.lang.String")
        handle = (
            jpype.JClass("java.lang.invoke.MethodHandles")
            .publicLookup()
            .findVirtual(word_segmenter.getClass(), "segmentTokenizedString", jpype.JClass("java.lang.invoke.MethodType").methodType(string, string))
            .bindTo(word_segmenter)
        )
        function = jpype.JClass("java.lang.invoke.MethodHandleProxies").asInterfaceInstance(jpype.JClass("java.util.function.Function"), handle)
        lines = jpype.JClass("java.util.regex.Pattern").compile("\n")
        joining = jpype.JClass("java.util.stream.Collectors").joining("\n")
        _RDR_BATCH[key] = lambda text: lines.splitAsStream(text).map(function).collect(joining)
    return _RDR_BATCH[key]


_SEGMENTERS: dict[str, Callable[..., Segmenter]] = {
    "none": SyllableSegmenter,
    "underthesea": UndertheseaSegmenter,
    "pyvi": PyviSegmenter,
    "rdrsegmenter": RDRSegmenter,
    # The former name of the RDRSegmenter option (through py_vncorenlp, which downloaded its files).
    "vncorenlp": RDRSegmenter,
}


def get_segmenter(name: str, **options: Any) -> Segmenter:
    """Return the segmenter called ``name``: ``underthesea`` (default), ``rdrsegmenter`` (alias
    ``vncorenlp``), ``pyvi`` or ``none``.

    ``options`` are settings such as ``data.rdrsegmenter_dir``, ``jvm_path`` and ``jvm_options``; those a
    segmenter does not take are ignored, so one call serves every ``data.segmenter``.
    """
    if name not in _SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose one of {', '.join(_SEGMENTERS)}")
    factory = _SEGMENTERS[name]
    accepted = inspect.signature(factory).parameters
    return factory(**{key: value for key, value in options.items() if key in accepted})


def segment_many(segmenter: Segmenter, sentences: Sequence[Sequence[str]]) -> list[WordSpans]:
    """Return ``segmenter.words`` of each sentence: through its ``words_many`` where it has one (many
    sentences per call, the same words), else sentence by sentence."""
    many = getattr(segmenter, "words_many", None)
    return many(sentences) if many is not None else [segmenter.words(s) for s in sentences]


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


def _nfc_line(syllables: Sequence[str]) -> str:
    """The NFC syllables joined by spaces: a space composes with nothing, so an NFC line is the NFC of each
    syllable joined, checked once per line instead of once per syllable."""
    line = " ".join(syllables)
    return line if unicodedata.is_normalized("NFC", line) else " ".join(nfc(s) for s in syllables)


def join_word(syllables: Sequence[str]) -> str:
    """Return a word as PhoBERT expects it: NFC syllables joined by underscores ("Hà_Nội")."""
    return "_".join(nfc(s) for s in syllables)
