"""Entities, defined once: :class:`Span` over a sentence's tokens, :class:`Entity` over a text's characters.

Every module reads entities from tags with :func:`entities` (seqeval underneath, in either of its two
modes), writes tags from spans with :func:`to_tags`, moves between token and character offsets with
:func:`to_entity`, and marks entities in text (``[LOC Hà Nội]`` markup, HTML) with :func:`mark`. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from seqeval.scheme import IOB2, Entities

__all__ = ["MODES", "check_mode", "Span", "Entity", "entities", "to_tags", "to_entity", "mark"]

# seqeval's two readings of a tag sequence: "strict" (IOB2 strict mode: an entity needs a valid B-X I-X...
# run) and "default" (conlleval-compatible: a stray I-X opens an entity).
MODES = ("strict", "default")


def check_mode(mode: str) -> None:
    """Raise ``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


@dataclass(frozen=True)
class Span:
    """An entity over tokens ``[start, end)`` of one sentence; ``score``: the model's confidence, if any."""

    label: str
    start: int
    end: int
    score: float | None = None


@dataclass(frozen=True)
class Entity:
    """An entity in a text: ``text[start:end] == self.text``; ``score`` in [0, 1] when a model found it."""

    start: int
    end: int
    label: str
    text: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the entity as a JSON-ready dict."""
        return asdict(self)


def entities(tags: Sequence[str], mode: str = "default") -> list[Span]:
    """The entities of one sentence's tags as seqeval reads them in ``mode``, in token order.

    ``strict``: only valid IOB2 runs count; ``default``: as ``conlleval`` and ``NerTagger.predict`` read
    them (a stray ``I-X`` opens an entity).
    """
    check_mode(mode)
    if mode == "strict":
        found = [(e.tag, e.start, e.end) for e in Entities([list(tags)], IOB2).entities[0]]
    else:
        # Imported here: seqeval.metrics imports scikit-learn (seconds), which commands that read no tags skip.
        from seqeval.metrics.sequence_labeling import get_entities

        found = [(label, start, end + 1) for label, start, end in get_entities(list(tags))]
    return [Span(label, start, end) for label, start, end in sorted(found, key=lambda e: (e[1], e[2], e[0]))]


def to_tags(spans: Iterable[Span], length: int) -> list[str]:
    """IOB2 tags of ``length`` tokens spelling ``spans``; of overlapping spans the first (in token order)
    is kept, so the tags always spell valid, non-overlapping entities."""
    tags = ["O"] * length
    for span in sorted(spans, key=lambda s: (s.start, s.end, s.label)):
        if span.start < span.end <= length and all(t == "O" for t in tags[span.start : span.end]):
            tags[span.start : span.end] = [f"B-{span.label}"] + [f"I-{span.label}"] * (span.end - span.start - 1)
    return tags


def to_entity(span: Span, offsets: Sequence[tuple[int, int]], text: str) -> Entity:
    """The character-offset :class:`Entity` of a token ``span``, ``offsets`` being each token's
    ``(start, end)`` in ``text``."""
    start, end = offsets[span.start][0], offsets[span.end - 1][1]
    return Entity(start, end, span.label, text[start:end], span.score)


def _bracket(label: str, text: str) -> str:
    return f"[{label} {text}]"


def mark(
    text: str,
    found: Iterable[Entity | Span],
    offsets: Sequence[tuple[int, int]] | None = None,
    render: Callable[[str, str], str] = _bracket,
    escape: Callable[[str], str] = str,
) -> str:
    """``text`` with each entity marked, by default as ``[LABEL text]`` (the annotation markup).

    ``found`` are character-offset entities, or token spans with ``offsets`` (each token's ``(start,
    end)`` in ``text``). ``render(label, escaped text)`` writes one entity and ``escape`` the text around
    and inside it (``html.escape`` for HTML). Of overlapping entities the first is kept.
    """
    located = [
        (f.start, f.end, f.label) if offsets is None else (offsets[f.start][0], offsets[f.end - 1][1], f.label) for f in found
    ]
    parts, cursor = [], 0
    for start, end, label in sorted(located):
        if start < cursor:
            continue
        parts.append(escape(text[cursor:start]) + render(label, escape(text[start:end])))
        cursor = end
    parts.append(escape(text[cursor:]))
    return "".join(parts)
