"""Inline-markup annotation: draft sentence files from raw articles, and turn marked-up drafts into CoNLL.

An annotator reads a draft, one sentence per block, and marks entities in place as ``[TYPE text]``:

    # sent_id = 000-4
    Sáng [DATE 7/9], Bí thư [ORG Thành ủy] [PER Đinh Tiến Dũng] tiếp bà [PER Kang Kum-Sil].

Blocks of interface text are deleted. Importing checks that the unmarked sentence is a sentence of the raw
article, that every entity starts and ends on a token boundary, and writes IOB2 tags per syllable token.

With a model at hand a draft comes pre-annotated: its entities already marked, the annotator corrects
them, and :func:`compare_markup` reports what was kept, added, removed, relabelled and re-bounded against
the model's markup, kept beside the draft (:func:`pre_annotation_path`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import Sentence
from .schema import DEFAULT_TYPES
from .spans import Entity, entities, mark
from .text import split_sentences, tokenize

__all__ = [
    "MarkupError",
    "MARKUP_TYPES",
    "MarkedSentence",
    "Change",
    "draft_markup",
    "read_markup",
    "parse_markup",
    "compare_markup",
    "format_changes",
    "sentences_to_markup",
    "pre_annotation_path",
    "read_raw",
]

# Markup is for the project corpus, so only its types are markup: "[MISC x]" is reported, not imported.
MARKUP_TYPES = DEFAULT_TYPES
_ENTITY = re.compile(r"\[(" + "|".join(MARKUP_TYPES) + r") ([^\[\]]+?)\]")


class MarkupError(ValueError):
    """A markup file that cannot be imported; the message names the file and line."""


CHANGE_KINDS = ("kept", "added", "removed", "relabelled", "re-bounded")


@dataclass(frozen=True)
class MarkedSentence:
    """One sentence line of a markup file: its plain text and the entities marked in it."""

    line: int
    text: str
    entities: tuple[Entity, ...]


@dataclass(frozen=True)
class Change:
    """What an annotator did to one pre-annotated entity (``before``) or added (``after``), on ``line``."""

    kind: str
    line: int
    text: str
    before: Entity | None
    after: Entity | None


def draft_markup(
    raw_text: str, stem: str, seen: set[str], tag: Callable[[list[str]], list[list[Entity]]] | None = None
) -> str:
    """Return a draft markup file for one article: every sentence not already in ``seen``, unmarked, or with
    the entities ``tag`` finds in each sentence's text already marked (a model's pre-annotation).

    ``seen`` is updated, so drafting articles in order keeps each sentence's first occurrence only.
    """
    new = []
    for number, sentence in enumerate(split_sentences(raw_text), start=1):
        if sentence.text not in seen:
            seen.add(sentence.text)
            new.append((number, sentence.text))
    found = tag([text for _, text in new]) if tag and new else [[] for _ in new]
    return "\n".join(f"# sent_id = {stem}-{number}\n{mark(text, marked)}\n" for (number, text), marked in zip(new, found))


def _tags_for(text: str, marked: Sequence[Entity], where: str) -> tuple[list[str], list[str]]:
    spans = tokenize(text)
    starts = {span.start: i for i, span in enumerate(spans)}
    ends = {span.end: i for i, span in enumerate(spans)}
    tags = ["O"] * len(spans)
    for entity in marked:
        label = entity.label
        if entity.start not in starts or entity.end not in ends:
            raise MarkupError(f"{where}: entity {entity.text!r} ({label}) does not start and end on token boundaries")
        first, last = starts[entity.start], ends[entity.end]
        tags[first] = f"B-{label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{label}"
    return [span.text for span in spans], tags


def read_markup(markup: str, path: str = "<markup>") -> list[MarkedSentence]:
    """Return the sentence lines of a markup file with their plain text and marked entities.

    Raises ``MarkupError`` naming ``path:line`` for malformed markup (an unknown type, a bracket left open).
    """
    sentences = []
    for number, line in enumerate(markup.splitlines(), start=1):
        if not line.strip() or line.startswith("# "):
            continue
        plain_parts, found, cursor, length = [], [], 0, 0
        for match in _ENTITY.finditer(line):
            before = line[cursor : match.start()]
            plain_parts.append(before)
            length += len(before)
            found.append(Entity(length, length + len(match.group(2)), match.group(1), match.group(2)))
            plain_parts.append(match.group(2))
            length += len(match.group(2))
            cursor = match.end()
        plain_parts.append(line[cursor:])
        if re.search(r"\[[A-Z]+ ", _ENTITY.sub("", line)):
            raise MarkupError(f"{path}:{number}: malformed entity markup in {line!r}")
        sentences.append(MarkedSentence(number, "".join(plain_parts), tuple(found)))
    return sentences


def parse_markup(markup: str, raw_text: str, stem: str, path: str = "<markup>") -> list[Sentence]:
    """Turn a marked-up draft into ``Sentence`` records numbered ``<stem>-1``, ``<stem>-2``, ...

    Raises ``MarkupError`` naming ``path:line`` when a sentence is not in ``raw_text`` or an entity does
    not align with tokens.
    """
    raw_sentences = {span.text for span in split_sentences(raw_text)}
    sentences: list[Sentence] = []
    for marked in read_markup(markup, path):
        where = f"{path}:{marked.line}"
        if marked.text not in raw_sentences:
            raise MarkupError(f"{where}: sentence is not a sentence of the raw article: {marked.text[:80]!r}")
        tokens, tags = _tags_for(marked.text, marked.entities, where)
        sentences.append(Sentence(tuple(tokens), tuple(tags), f"{stem}-{len(sentences) + 1}", marked.text))
    return sentences


def compare_markup(pre: Sequence[MarkedSentence], final: Sequence[MarkedSentence]) -> list[Change]:
    """Return what the annotator changed in ``final`` against the pre-annotation ``pre``, sentence by
    sentence (matched by text; sentences the annotator deleted are not compared): every pre-annotated
    entity kept, relabelled (same span), re-bounded (overlapping span) or removed, and every one added."""
    before_of = {sentence.text: sentence.entities for sentence in pre}
    changes = []
    for sentence in final:
        if sentence.text in before_of:
            changes += _sentence_changes(before_of[sentence.text], sentence)
    return changes


def _sentence_changes(before: Sequence[Entity], sentence: MarkedSentence) -> list[Change]:
    after = set(sentence.entities)
    left = [e for e in before if e not in after]
    right = [e for e in sentence.entities if e not in set(before)]
    pairs = []
    # Same span first (a new type), then any overlap (new bounds), so one edit is never read as two.
    for same in (_same_span, lambda a, b: a.start < b.end and b.start < a.end):
        for old in list(left):
            new = next((e for e in right if same(old, e)), None)
            if new is not None:
                pairs.append((old, new))
                left.remove(old)
                right.remove(new)
    changes = [Change("kept", sentence.line, sentence.text, e, e) for e in before if e in after]
    changes += [Change("relabelled" if _same_span(old, new) else "re-bounded", sentence.line, sentence.text, old, new) for old, new in pairs]
    changes += [Change("removed", sentence.line, sentence.text, e, None) for e in left]
    changes += [Change("added", sentence.line, sentence.text, None, e) for e in right]
    return sorted(changes, key=lambda c: (c.before or c.after).start)


def _same_span(a: Entity, b: Entity) -> bool:
    return (a.start, a.end) == (b.start, b.end)


def format_changes(changes: Sequence[Change], path: str, compared: int) -> str:
    """The import's report: a count of each kind of change, then one ``path:line:`` line per change."""
    counts = Counter(change.kind for change in changes)
    lines = [f"{path}: against the pre-annotation ({compared} sentences): " + ", ".join(f"{counts[k]} {k}" for k in CHANGE_KINDS)]
    for c in changes:
        if c.kind != "kept":
            shown = [mark(e.text, [Entity(0, len(e.text), e.label, e.text)]) for e in (c.before, c.after) if e is not None]
            lines.append(f"{path}:{c.line}: {c.kind} {' -> '.join(shown)}")
    return "\n".join(lines)


def sentences_to_markup(sentences: list[Sentence]) -> str:
    """Return ``sentences`` as markup (the inverse of ``parse_markup``), for reviewing gold files."""
    blocks = []
    for sentence in sentences:
        offsets = [(span.start, span.end) for span in tokenize(sentence.text)]
        blocks.append(f"# sent_id = {sentence.sent_id}\n{mark(sentence.text, entities(sentence.tags, 'strict'), offsets)}\n")
    return "\n".join(blocks)


def pre_annotation_path(draft: str | Path) -> Path:
    """Where ``draft --model`` keeps the model's markup of a draft: ``NAME.pre.txt`` beside ``NAME.txt``."""
    draft = Path(draft)
    return draft.with_name(f"{draft.stem}.pre{draft.suffix}")


def read_raw(path: str | Path) -> str:
    """Read a raw article as UTF-8 text, exactly as stored."""
    return Path(path).read_text(encoding="utf-8")
