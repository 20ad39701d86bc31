"""Sentence splitting, syllable tokenization and normalization of raw Vietnamese text.

One home for the rules that turn raw text into the syllable tokens of the gold CoNLL files, shared by
corpus building, training and inference. Every function works on the caller's string and returns
character offsets into it, so inference can report spans in the original text whatever the input's
Unicode form or whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Span", "normalize", "split_sentences", "tokenize", "tokens"]

# Punctuation peeled off a syllable's edges. Inner punctuation stays ("7/9", "2,34", "Kum-Sil", "14:15").
_LEADING = "\"'“‘«([{<*•–—-"
_TRAILING = "\"'”’».,;:!?…)]}>*–—-"
# Zero-width characters and other format controls count as whitespace: they carry no text.
_SPACE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_NON_SPACE = re.compile(r"[^\s\u200b\u200c\u200d\u2060\ufeff]+")
# A sentence ends at . ! ? or … (optionally followed by closing quotes/brackets) before whitespace and
# a character that can start a sentence.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=[\s\u00a0]+[\"'“‘«(\[]?[0-9A-ZÀ-ỸĐ])")
# Tokens ending in "." that do not end a sentence: Vietnamese administrative and academic abbreviations.
_ABBREVIATIONS = frozenset(
    "TP Tp tp Q P TX TT ThS TS PGS GS BS KS CN Mr Mrs Ms Dr St Co Ltd Inc Corp vs v.v St".split()
)


@dataclass(frozen=True)
class Span:
    """A piece of text and its character offsets ``[start, end)`` in the string it came from."""

    text: str
    start: int
    end: int


def normalize(text: str) -> str:
    """Return ``text`` in Unicode NFC, the form the gold data and the model vocabulary use."""
    return unicodedata.normalize("NFC", text)


def _sentence_ends(paragraph: str) -> list[int]:
    ends = []
    for match in _BOUNDARY.finditer(paragraph):
        word = paragraph[: match.start()].rsplit(None, 1)[-1] if paragraph[: match.start()].strip() else ""
        # "TP. Hồ Chí Minh", "ThS. Nguyễn": an abbreviation's period, not a sentence end.
        if match.group().startswith(".") and (word in _ABBREVIATIONS or (len(word) == 1 and word.isupper())):
            continue
        ends.append(match.end())
    return ends


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences: every line is a paragraph, split after sentence-final punctuation.

    Returned spans are stripped of surrounding whitespace and index into ``text``.
    """
    sentences = []
    offset = 0
    for line in text.splitlines(keepends=True):
        start = 0
        for end in _sentence_ends(line) + [len(line)]:
            piece = line[start:end]
            words = list(_NON_SPACE.finditer(piece))
            if words:
                s, e = offset + start + words[0].start(), offset + start + words[-1].end()
                sentences.append(Span(text[s:e], s, e))
            start = end
        offset += len(line)
    return sentences


def _split_chunk(chunk: str, start: int) -> list[Span]:
    head = 0
    tail = len(chunk)
    leading, trailing = [], []
    while head < tail and chunk[head] in _LEADING and (tail - head > 1 or chunk[head] not in "-–—"):
        leading.append(Span(chunk[head], start + head, start + head + 1))
        head += 1
    while tail > head and chunk[tail - 1] in _TRAILING:
        # An ellipsis written as dots stays one token: "..." not "." "." ".".
        dots = 1
        if chunk[tail - 1] == ".":
            while tail - dots > head and chunk[tail - dots - 1] == ".":
                dots += 1
            if dots == 2:
                dots = 1
        trailing.append(Span(chunk[tail - dots : tail], start + tail - dots, start + tail))
        tail -= dots
    middle = _split_slashed_words(chunk[head:tail], start + head) if tail > head else []
    return leading + middle + trailing[::-1]


def _split_slashed_words(chunk: str, start: int) -> list[Span]:
    # "won/người", "khách/năm": a slash between words separates them ("100.000 won" is the amount);
    # a slash with digits on either side is a date, a ratio or a document number and stays ("7/9").
    parts = chunk.split("/")
    if len(parts) < 2 or not all(part.isalpha() for part in parts):
        return [Span(chunk, start, start + len(chunk))]
    spans, offset = [], start
    for i, part in enumerate(parts):
        if i:
            spans.append(Span("/", offset, offset + 1))
            offset += 1
        spans.append(Span(part, offset, offset + len(part)))
        offset += len(part)
    return spans


def tokenize(text: str) -> list[Span]:
    """Split ``text`` into syllable tokens: whitespace-separated, punctuation at the edges split off.

    Numbers, dates, times and hyphenated names stay whole ("2,34", "7/9", "14:15", "Kum-Sil").
    """
    spans = []
    for match in _NON_SPACE.finditer(text):
        spans.extend(_split_chunk(match.group(), match.start()))
    return spans


def tokens(text: str) -> list[str]:
    """Return the syllable tokens of ``text`` as strings."""
    return [span.text for span in tokenize(text)]
