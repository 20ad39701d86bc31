"""The baselines a model is compared with on gold sentences (a dictionary of training entities, underthesea's
own ``ner()``), and the scoring of any system's tags; the model itself is scored on the gold tokens with
``NerTagger.predict_tokens``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..corpus import (
    Sentence,
    from_dataset,
)
from ..schema import nfc
from ..metrics import (
    f1,
    score_modes,
    entity_scores,
)
from ..schema import types_of
from ..spans import Entity, entities
from .analysis import bootstrap, sentence_text

if TYPE_CHECKING:
    from datasets import Dataset

# Anything that tags sentences: gold sentences in, one predicted IOB2 tag list per sentence out.
Tagger = Callable[[Sequence[Sentence]], list[list[str]]]


def token_offsets(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Character offsets ``[start, end)`` of each token in ``text``, found in order.

    Only whitespace may lie between tokens; otherwise the tokens are not the text's and a ``ValueError``
    says where they part.
    """
    offsets = []
    cursor = 0
    for i, token in enumerate(tokens):
        start = text.find(token, cursor)
        if start < 0 or text[cursor:start].strip():
            raise ValueError(f"token {i} {token!r} not found at offset {cursor} of {text[:60]!r}...")
        offsets.append((start, start + len(token)))
        cursor = start + len(token)
    return offsets


def spans_to_tags(offsets: Sequence[tuple[int, int]], found: Iterable[Entity]) -> list[str]:
    """IOB2 syllable tags from character-offset entities, ``offsets`` being each syllable's ``(start, end)``.

    A token is in an entity when their characters overlap, so an entity that cuts a token takes the whole
    token. Entities are applied in text order; a token already taken by an earlier one stays with it.
    """
    tags = ["O"] * len(offsets)
    for start, end, label in sorted((e.start, e.end, e.label) for e in found):
        inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start and tags[i] == "O"]
        # Keep only the first contiguous run, so one span never yields two entities.
        run = [i for k, i in enumerate(inside) if i - inside[0] == k]
        for k, i in enumerate(run):
            tags[i] = ("B-" if k == 0 else "I-") + label
    return tags


class DictionaryTagger:
    """Baseline: every entity string seen in training, matched longest first, left to right.

    Strings are matched as exact syllable sequences (case-sensitive). A string seen with several types takes
    its most frequent one (ties: alphabetical).
    """

    def __init__(self, entries: dict[tuple[str, ...], str]) -> None:
        self.entries = entries
        self.longest = max((len(k) for k in entries), default=0)

    @classmethod
    def fit(cls, sentences: Iterable[Sentence]) -> DictionaryTagger:
        """Collect the entity strings of ``sentences`` (IOB2 strict reading)."""
        seen: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        for sentence in sentences:
            for span in entities(sentence.tags, "strict"):
                seen[tuple(sentence.tokens[span.start : span.end])][span.label] += 1
        return cls({key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in seen.items()})

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags of one sentence."""
        tags = ["O"] * len(tokens)
        i = 0
        while i < len(tokens):
            for length in range(min(self.longest, len(tokens) - i), 0, -1):
                label = self.entries.get(tuple(tokens[i : i + length]))
                if label:
                    tags[i : i + length] = ["B-" + label] + ["I-" + label] * (length - 1)
                    i += length
                    break
            else:
                i += 1
        return tags

    def __call__(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        return [self.tag(s.tokens) for s in sentences]


# underthesea's ner() is trained on VLSP 2016 (PER, ORG, LOC, MISC). Its three shared types map to ours by
# name; MISC (nationalities, events, products...) has no counterpart and becomes O. It has no MONEY or DATE,
# so it is scored on PER/ORG/LOC only, against gold restricted to those types.
UNDERTHESEA_LABELS = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": None}
UNDERTHESEA_TYPES = ("PER", "ORG", "LOC")


def _align_words(text: str, words: Sequence[str]) -> list[tuple[int, int] | None]:
    """Character spans of underthesea's words in ``text``, compared without whitespace.

    Its words join syllables with spaces and may re-tokenize punctuation; when their letters add up to the
    text's, words are laid end to end (this survives a respelled tone mark, as in "Hoà" -> "Hòa");
    otherwise each is searched for in order and a word not found gets ``None``.
    """
    positions = [i for i, c in enumerate(text) if not c.isspace()]
    compact = "".join(text[i] for i in positions)
    pieces = ["".join(w.split()) for w in words]
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    positional = sum(len(p) for p in pieces) == len(compact)
    for piece in pieces:
        at = cursor if positional else compact.find(piece, cursor)
        if not piece or at < 0:
            spans.append(None)
            continue
        spans.append((positions[at], positions[at + len(piece) - 1] + 1))
        cursor = at + len(piece)
    return spans


class UndertheseaTagger:
    """Baseline: underthesea's ``ner()`` (offline CRF), labels mapped by :data:`UNDERTHESEA_LABELS`.

    Its word-level tags are read in seqeval's default mode (it may open an entity with I-), each entity
    becomes the character span from its first word's start to its last word's end, and that span is
    mapped onto our syllables like the model's (:func:`spans_to_tags`).
    """

    def __init__(self, ner: Callable[[str], list[tuple]] | None = None) -> None:
        if ner is None:
            from underthesea import ner
        self._ner = ner

    def spans(self, text: str) -> list[Entity]:
        """The entities underthesea finds in ``text`` (mapped labels), with character offsets."""
        rows = self._ner(text)
        words = [row[0] for row in rows]
        tags = [row[-1] for row in rows]
        located = _align_words(text, words)
        out = []
        for span in entities(tags):
            ours = UNDERTHESEA_LABELS.get(span.label)
            first, last = located[span.start], located[span.end - 1]
            if ours is None or first is None or last is None:
                continue
            out.append(Entity(first[0], last[1], ours, text[first[0] : last[1]]))
        return out

    def __call__(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        out = []
        for sentence in sentences:
            text = nfc(sentence_text(sentence))
            offsets = token_offsets(text, [nfc(t) for t in sentence.tokens])
            out.append(spans_to_tags(offsets, self.spans(text)))
        return out


def restrict_types(tags: Sequence[str], types: Iterable[str]) -> list[str]:
    """``tags`` with every entity of a type not in ``types`` set to O."""
    keep = set(types)
    return [t if t == "O" or t[2:] in keep else "O" for t in tags]


def score_system(
    sentences: Sequence[Sentence],
    pred: Sequence[Sequence[str]],
    types: Sequence[str] | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score one system for :func:`format_comparison`: strict-mode report and micro-F1 interval on ``types`` only.

    ``types`` defaults to every type of the gold and predicted tags. Gold and predicted entities of other
    types are set to O first, so a system that knows only some types (underthesea: PER/ORG/LOC) is neither
    credited nor blamed for the others.
    """
    if types is None:
        types = types_of([tag for s in sentences for tag in s.tags] + [tag for p in pred for tag in p])
    gold = [restrict_types(s.tags, types) for s in sentences]
    pred = [restrict_types(p, types) for p in pred]
    return {"types": list(types), "report": entity_scores(gold, pred, "strict"), "interval": bootstrap(gold, pred, "strict", samples, seed)}


def dictionary_baseline_f1(train: Dataset, test: Dataset) -> float:
    """Return the strict micro F1 on ``test`` of the dictionary baseline learned from ``train`` (the
    figure a model should beat; ``train.py`` reports it beside the model's, see ``evaluate.py --baselines``)."""
    return f1(score_modes(test["tags"], DictionaryTagger.fit(from_dataset(train))(from_dataset(test))))
