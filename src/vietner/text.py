"""Sentence splitting, syllable tokenization and normalization of raw Vietnamese text (and new sentences
drawn from such sentences, for warm-ups and benchmarks).

One home for the rules that turn raw text into the syllable tokens of the gold CoNLL files, shared by
corpus building, training and inference. Every function works on the caller's string and returns
character offsets into it, so inference can report spans in the original text whatever the input's
Unicode form or whitespace.
"""

from __future__ import annotations

import operator
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from itertools import accumulate, compress, repeat
from typing import NamedTuple

from .schema import nfc

__all__ = ["FORMAT_CHARACTERS", "SEPARATORS", "TextSpan", "AlignedText", "normalize_tone_placement", "split_sentences", "tokenize", "syllable_sentences", "bigram_sentences"]

# Punctuation peeled off a syllable's edges. Inner punctuation stays ("7/9", "2,34", "Kum-Sil", "14:15").
_LEADING = "\"'“‘«([{<*•–—-"
_TRAILING = "\"'”’».,;:!?…)]}>*–—-"
_LEADING_SET, _TRAILING_SET = frozenset(_LEADING), frozenset(_TRAILING)
# Format characters (Unicode category Cf: bidi marks LRM/RLM/RLO..., ZWSP, ZWJ, the BOM, the soft hyphen)
# carry no text: every one separates syllables as whitespace does, so none is ever part of a syllable and
# offsets stay those of the caller's string. They occur only in planes 0, 1 and 14.
FORMAT_CHARACTERS = "".join(
    chr(c) for r in (range(0x20000), range(0xE0000, 0xE1000)) for c in r if unicodedata.category(chr(c)) == "Cf"
)
SEPARATORS = re.compile(f"[\\s{re.escape(FORMAT_CHARACTERS)}]+")
# The same characters as a string, for str.strip: SEPARATORS' \s is exactly str.isspace.
_SEPARATOR_CHARACTERS = "".join(chr(c) for c in range(0x3100) if chr(c).isspace()) + FORMAT_CHARACTERS
_NON_SPACE = re.compile(f"[^\\s{re.escape(FORMAT_CHARACTERS)}]+")
# re.split by these: separators and runs of non-separators, alternating. Text without format characters
# (nearly all) takes the second, several times faster: the first's class reaches planes 1 and 14.
_RUNS = re.compile(f"({_NON_SPACE.pattern})")
_WHITESPACE_RUNS, _FORMAT_SET = re.compile(r"(\S+)"), frozenset(FORMAT_CHARACTERS)
# A sentence ends at . ! ? or … (optionally followed by closing quotes/brackets) before whitespace and
# a character that can start a sentence.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=[\s\u00a0]+[\"'“‘«(\[]?[0-9A-ZÀ-ỸĐ])")
# Tokens ending in "." that do not end a sentence: Vietnamese administrative and academic abbreviations.
_ABBREVIATIONS = frozenset(
    "TP Tp tp Q P TX TT ThS TS PGS GS BS KS CN Mr Mrs Ms Dr St Co Ltd Inc Corp vs v.v St".split()
)
# A run of letters, each with its combining marks (NFD text keeps tone marks as separate characters).
_LETTERS = re.compile(r"(?:[^\W\d_][\u0300-\u036f]*)+")
_LETTER = re.compile(r"[^\W\d_][\u0300-\u036f]*")
# The five Vietnamese tone marks, as combining characters: grave, acute, tilde, hook above, dot below.
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Vowel pairs whose tone PhoBERT's text carries on the second vowel ("hoà", "khoẻ", "thuỷ").
_TONE_ON_SECOND = frozenset({("o", "a"), ("o", "e"), ("u", "y")})


class TextSpan(NamedTuple):
    """A piece of text and its character offsets ``[start, end)`` in the string it came from."""

    # A named tuple, not a frozen dataclass: tokenization makes one per syllable, and a tuple is built in
    # half the time or less (benchmarks/README.md, "Preprocessing of new text, per core").
    text: str
    start: int
    end: int


def _split_tone(letter: str) -> tuple[str, str]:
    """Return a letter's base (NFC, other diacritics kept) and its tone marks."""
    decomposed = unicodedata.normalize("NFD", letter)
    tones = "".join(c for c in decomposed if c in _TONES)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES)), tones


def _place_tone(syllable: str) -> str:
    """Move the tone of a syllable ending in "oa", "oe" or "uy" (not "quy") onto its last vowel."""
    letters = _LETTER.findall(syllable)
    if len(letters) < 2:
        return syllable
    (base1, tone1), (base2, tone2) = _split_tone(letters[-2]), _split_tone(letters[-1])
    if (base1.lower(), base2.lower()) not in _TONE_ON_SECOND or len(tone1) != 1 or tone2 or len(letters[-1]) != 1:
        return syllable
    if base1.lower() == "u" and len(letters) > 2 and _split_tone(letters[-3])[0].lower() == "q":
        return syllable
    # Same number of characters: a precomposed "ò" gives a precomposed "à", a combining mark stays one.
    moved = letters[-1] + tone1
    second = unicodedata.normalize("NFC", moved) if len(letters[-2]) == 1 else moved
    return "".join(letters[:-2]) + base1 + second


def normalize_tone_placement(text: str) -> str:
    """Respell tone marks the way PhoBERT's pre-training text does ("hòa" -> "hoà", "thủy" -> "thuỷ").

    In each run of letters ending in "oa", "oe" or "uy" (no final consonant, "u" not after "q"), a tone
    mark on the first vowel moves to the second; every other syllable, the case, and the number of
    characters stay the same (in NFD text the tone stays a combining mark), so offsets into ``text`` hold.
    """
    return _LETTERS.sub(lambda match: _place_tone(match.group()), text)


def _sentence_ends(paragraph: str) -> list[int]:
    ends = []
    for match in _BOUNDARY.finditer(paragraph):
        word = paragraph[: match.start()].rsplit(None, 1)[-1] if paragraph[: match.start()].strip() else ""
        # "TP. Hồ Chí Minh", "ThS. Nguyễn": an abbreviation's period, not a sentence end.
        if match.group().startswith(".") and (word in _ABBREVIATIONS or (len(word) == 1 and word.isupper())):
            continue
        ends.append(match.end())
    return ends


def split_sentences(text: str) -> list[TextSpan]:
    """Split ``text`` into sentences: every line is a paragraph, split after sentence-final punctuation.

    Returned spans are stripped of surrounding whitespace and index into ``text``.
    """
    sentences = []
    offset = 0
    for line in text.splitlines(keepends=True):
        start = 0
        for end in _sentence_ends(line) + [len(line)]:
            piece = line[start:end]
            stripped = piece.strip(_SEPARATOR_CHARACTERS)
            if stripped:
                s = offset + start + len(piece) - len(piece.lstrip(_SEPARATOR_CHARACTERS))
                sentences.append(TextSpan(stripped, s, s + len(stripped)))
            start = end
        offset += len(line)
    return sentences


def _split_chunk(chunk: str, start: int) -> list[TextSpan]:
    head = 0
    tail = len(chunk)
    leading, trailing = [], []
    while head < tail and chunk[head] in _LEADING and (tail - head > 1 or chunk[head] not in "-–—"):
        leading.append(TextSpan(chunk[head], start + head, start + head + 1))
        head += 1
    while tail > head and chunk[tail - 1] in _TRAILING:
        # An ellipsis written as dots stays one token: "..." not "." "." ".".
        dots = 1
        if chunk[tail - 1] == ".":
            while tail - dots > head and chunk[tail - dots - 1] == ".":
                dots += 1
            if dots == 2:
                dots = 1
        trailing.append(TextSpan(chunk[tail - dots : tail], start + tail - dots, start + tail))
        tail -= dots
    middle = _split_slashed_words(chunk[head:tail], start + head) if tail > head else []
    return leading + middle + trailing[::-1]


def _split_slashed_words(chunk: str, start: int) -> list[TextSpan]:
    # "won/người", "khách/năm": a slash between words separates them ("100.000 won" is the amount);
    # a slash with digits on either side is a date, a ratio or a document number and stays ("7/9").
    parts = chunk.split("/")
    if len(parts) < 2 or not all(part.isalpha() for part in parts):
        return [TextSpan(chunk, start, start + len(chunk))]
    spans, offset = [], start
    for i, part in enumerate(parts):
        if i:
            spans.append(TextSpan("/", offset, offset + 1))
            offset += 1
        spans.append(TextSpan(part, offset, offset + len(part)))
        offset += len(part)
    return spans


def tokenize(text: str, offset: int = 0) -> list[TextSpan]:
    """Split ``text`` into syllable tokens: whitespace-separated, punctuation at the edges split off.

    Numbers, dates, times and hyphenated names stay whole ("2,34", "7/9", "14:15", "Kum-Sil"). Offsets
    are into ``text``, plus ``offset`` (where ``text`` starts in a longer string).
    """
    # Every chunk as one plain syllable first, then the few with edge punctuation or a slash re-split by
    # _split_chunk; the first step runs without a Python loop, several times faster (one span per syllable).
    parts = (_WHITESPACE_RUNS if _FORMAT_SET.isdisjoint(text) else _RUNS).split(text)  # sep, run, sep, ..., sep
    chunks = parts[1::2]
    starts = list(accumulate(map(len, parts), initial=offset))[1::2]
    ends = map(operator.add, starts, map(len, chunks))
    # tuple.__new__ builds each TextSpan without the Python-level __new__ a NamedTuple call runs: half the cost.
    spans = list(map(tuple.__new__, repeat(TextSpan), zip(chunks, starts, ends)))
    leading = map(_LEADING_SET.__contains__, map(operator.itemgetter(0), chunks))
    trailing = map(_TRAILING_SET.__contains__, map(operator.itemgetter(-1), chunks))
    slashed = map(str.__contains__, chunks, repeat("/"))
    special = compress(range(len(chunks)), map(any, zip(leading, trailing, slashed)))
    for i in reversed(list(special)):  # from the end, so the indices before stay valid
        spans[i : i + 1] = _split_chunk(chunks[i], starts[i])
    return spans


# --------------------------------------------------------------------------------------------------------
# Offsets: NFC for the model, original positions for the caller.


def _composes(segment: str, char: str) -> bool:
    # A starter can still compose with what precedes it (Hangul jamo L+V+T, some Indic vowel signs).
    return nfc(segment + char) != nfc(segment) + nfc(char)


def _segments(text: str) -> Iterator[tuple[int, int]]:
    """Cut ``text`` into pieces that normalize independently: a starter and the marks that attach to it."""
    begin = 0
    for i in range(1, len(text)):
        if unicodedata.combining(text[i]) == 0 and not _composes(text[begin:i], text[i]):
            yield begin, i
            begin = i
    if text:
        yield begin, len(text)


class AlignedText:
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
            normalized = nfc(piece)
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


def syllable_sentences(text: str) -> list[list[TextSpan]]:
    """Split a caller's raw ``text`` into sentences of syllables: each :class:`TextSpan` holds the NFC syllable
    and its offsets in ``text`` as given (NFD, odd whitespace and all), so entities slice the original."""
    aligned = AlignedText(text)
    out = []
    for sentence in split_sentences(aligned.text):
        spans = tokenize(sentence.text, sentence.start)
        if spans and aligned.text is not text:
            spans = [TextSpan(s.text, *aligned.span(s.start, s.end)) for s in spans]
        if spans:
            out.append(spans)
    return out


def bigram_sentences(
    sentences: Sequence[Sequence[str]], syllables: float, draw: random.Random | None = None, longest: int = 80
) -> Iterator[list[str]]:
    """New sentences, about ``syllables`` syllables in all (``math.inf``: no end), each a walk through the
    bigrams of ``sentences`` from a sentence start to a sentence end (at most ``longest`` syllables): the same
    words in many more contexts. ``draw`` is the random source (default: seed 0); each sentence is drawn
    when it is asked for, so a caller may use ``draw`` in between."""
    follows: dict[str | None, list[str | None]] = {}  # None: a sentence's start, and its end
    for sentence in filter(None, sentences):
        for a, b in zip([None, *sentence], [*sentence, None]):
            follows.setdefault(a, []).append(b)
    draw, count = draw or random.Random(0), 0
    while None in follows and count < syllables:
        sentence, syllable = [], draw.choice(follows[None])
        while syllable is not None and len(sentence) < longest:
            sentence.append(syllable)
            syllable = draw.choice(follows[syllable])
        count += len(sentence)
        yield sentence
