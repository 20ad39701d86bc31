"""Inline-markup annotation: draft sentence files from raw articles, and turn marked-up drafts into CoNLL.

An annotator reads a draft, one sentence per block, and marks entities in place as ``[TYPE text]``:

    # sent_id = 000-4
    Sáng [DATE 7/9], Bí thư [ORG Thành ủy] [PER Đinh Tiến Dũng] tiếp bà [PER Kang Kum-Sil].

Blocks of interface text are deleted. Importing checks that the unmarked sentence is a sentence of the raw
article, that every entity starts and ends on a token boundary, and writes IOB2 tags per syllable token.
"""

from __future__ import annotations

import re
from pathlib import Path

from .corpus import Sentence
from .schema import DEFAULT_TYPES
from .text import split_sentences, tokenize

__all__ = ["MarkupError", "draft_markup", "parse_markup", "sentences_to_markup", "read_raw"]

# Markup is for the project corpus, so only its types are markup: "[MISC x]" is reported, not imported.
_ENTITY = re.compile(r"\[(" + "|".join(DEFAULT_TYPES) + r") ([^\[\]]+?)\]")


class MarkupError(ValueError):
    """A markup file that cannot be imported; the message names the file and line."""


def draft_markup(raw_text: str, stem: str, seen: set[str]) -> str:
    """Return a draft markup file for one article: every sentence not already in ``seen``, unmarked.

    ``seen`` is updated, so drafting articles in order keeps each sentence's first occurrence only.
    """
    blocks = []
    for number, sentence in enumerate(split_sentences(raw_text), start=1):
        if sentence.text in seen:
            continue
        seen.add(sentence.text)
        blocks.append(f"# sent_id = {stem}-{number}\n{sentence.text}\n")
    return "\n".join(blocks)


def _tags_for(text: str, entities: list[tuple[int, int, str]], where: str) -> tuple[list[str], list[str]]:
    spans = tokenize(text)
    starts = {span.start: i for i, span in enumerate(spans)}
    ends = {span.end: i for i, span in enumerate(spans)}
    tags = ["O"] * len(spans)
    for start, end, label in entities:
        if start not in starts or end not in ends:
            raise MarkupError(f"{where}: entity {text[start:end]!r} ({label}) does not start and end on token boundaries")
        first, last = starts[start], ends[end]
        tags[first] = f"B-{label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{label}"
    return [span.text for span in spans], tags


def parse_markup(markup: str, raw_text: str, stem: str, path: str = "<markup>") -> list[Sentence]:
    """Turn a marked-up draft into ``Sentence`` records numbered ``<stem>-1``, ``<stem>-2``, ...

    Raises ``MarkupError`` naming ``path:line`` when a sentence is not in ``raw_text`` or an entity does
    not align with tokens.
    """
    raw_sentences = {span.text for span in split_sentences(raw_text)}
    sentences: list[Sentence] = []
    for number, line in enumerate(markup.splitlines(), start=1):
        if not line.strip() or line.startswith("# "):
            continue
        where = f"{path}:{number}"
        plain_parts, entities, cursor, length = [], [], 0, 0
        for match in _ENTITY.finditer(line):
            before = line[cursor : match.start()]
            plain_parts.append(before)
            length += len(before)
            entities.append((length, length + len(match.group(2)), match.group(1)))
            plain_parts.append(match.group(2))
            length += len(match.group(2))
            cursor = match.end()
        plain_parts.append(line[cursor:])
        text = "".join(plain_parts)
        if re.search(r"\[[A-Z]+ ", _ENTITY.sub("", line)):
            raise MarkupError(f"{where}: malformed entity markup in {line!r}")
        if text not in raw_sentences:
            raise MarkupError(f"{where}: sentence is not a sentence of the raw article: {text[:80]!r}")
        tokens, tags = _tags_for(text, entities, where)
        sentences.append(Sentence(tuple(tokens), tuple(tags), f"{stem}-{len(sentences) + 1}", text))
    return sentences


def sentences_to_markup(sentences: list[Sentence]) -> str:
    """Return ``sentences`` as markup (the inverse of ``parse_markup``), for reviewing gold files."""
    blocks = []
    for sentence in sentences:
        spans = tokenize(sentence.text)
        out, cursor, i = [], 0, 0
        while i < len(spans):
            tag = sentence.tags[i]
            if tag.startswith("B-"):
                j = i + 1
                while j < len(spans) and sentence.tags[j] == "I-" + tag[2:]:
                    j += 1
                start, end = spans[i].start, spans[j - 1].end
                out.append(sentence.text[cursor:start] + f"[{tag[2:]} {sentence.text[start:end]}]")
                cursor, i = end, j
            else:
                i += 1
        out.append(sentence.text[cursor:])
        blocks.append(f"# sent_id = {sentence.sent_id}\n{''.join(out)}\n")
    return "\n".join(blocks)


def read_raw(path: str | Path) -> str:
    """Read a raw article as UTF-8 text, exactly as stored."""
    return Path(path).read_text(encoding="utf-8")
