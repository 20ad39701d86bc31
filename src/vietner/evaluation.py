"""Entity-level evaluation a reader can trust on a tiny corpus: seqeval reports, intervals, errors, baselines.

Everything here scores *syllable-level IOB2 tag sequences* with seqeval, whatever produced them:

- a trained model, run through the raw-text path users call (``NerTagger.predict`` on each sentence's
  ``# text``; entity character spans are mapped back onto the gold syllables by their offsets);
- a predictions file (CoNLL with gold and predicted columns) written by any other system;
- two baselines: a dictionary of every entity string seen in training (longest match), and underthesea's
  own ``ner()`` for PER/ORG/LOC.

Reports put seqeval's IOB2 strict mode and its default (conlleval-compatible) mode side by side. With one
test article the score is noisy, so a seeded bootstrap over sentences gives a 95% interval; the type
confusion table and the error file show where the errors are. ``cross_validate`` runs leave-one-article-out
training and reports per-fold and mean ± std F1.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from .metrics import AVERAGES, MODES, EntitySpan, check_lengths, extract_entities, score_report
from .corpus import (
    SPLITS,
    CorpusFormatError,
    Sentence,
    atomic_write_text,
    read_conll,
    read_corpus,
)

__all__ = [
    "AVERAGES",
    "MODES",
    "TYPES",
    "UNDERTHESEA_LABELS",
    "UNDERTHESEA_TYPES",
    "DictionaryTagger",
    "Fold",
    "ModelTagger",
    "Tagger",
    "UndertheseaTagger",
    "bootstrap",
    "confusion",
    "cross_validate",
    "errors",
    "evaluate_tags",
    "extract_entities",
    "folds",
    "format_comparison",
    "format_confusion",
    "format_cross_validation",
    "format_errors",
    "format_predictions",
    "format_report",
    "load_articles",
    "load_split",
    "main",
    "plot_comparison",
    "plot_confusion",
    "plot_scores",
    "read_predictions",
    "render_entities_html",
    "render_spans_html",
    "report_markdown",
    "restrict_types",
    "score_report",
    "score_system",
    "spans_to_tags",
    "token_offsets",
    "train_fold_with_script",
]

logger = logging.getLogger(__name__)

TYPES = ("PER", "ORG", "LOC", "MONEY", "DATE")
# seqeval's two ways of reading entities out of tags (see vietner.metrics), as report headings.
MODE_TITLES = {"strict": "IOB2 strict", "default": "default (conlleval)"}

# Anything that tags sentences: gold sentences in, one predicted IOB2 tag list per sentence out.
Tagger = Callable[[Sequence[Sentence]], list[list[str]]]


# ---------------------------------------------------------------------------------------------- scoring


def _sentence_counts(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], types: Sequence[str], mode: str
) -> np.ndarray:
    """Per sentence and type: [true positives, predicted, gold]. Summed, these give seqeval's scores."""
    index = {t: i for i, t in enumerate(types)}
    counts = np.zeros((len(gold), len(types), 3), dtype=np.int64)
    for s, (g, p) in enumerate(zip(gold, pred)):
        gold_entities, pred_entities = extract_entities(g, mode), extract_entities(p, mode)
        for label, *_ in gold_entities & pred_entities:
            counts[s, index[label], 0] += 1
        for label, *_ in pred_entities:
            counts[s, index[label], 1] += 1
        for label, *_ in gold_entities:
            counts[s, index[label], 2] += 1
    return counts


def _f1(tp: np.ndarray, predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    denominator = predicted + gold
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)


def _types_of(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str) -> list[str]:
    return sorted({label for tags in list(gold) + list(pred) for label, _, _ in extract_entities(tags, mode)})


def bootstrap(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    mode: str = "strict",
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Percentile bootstrap interval of micro F1 (and of each type's F1), resampling whole sentences.

    Sentences are drawn with replacement ``samples`` times from a ``numpy`` generator seeded with ``seed``,
    so the interval is reproducible. A resample where a type has neither gold nor predicted entities has no
    F1 for that type and is left out of that type's interval.
    """
    check_lengths(gold, pred)
    types = _types_of(gold, pred, mode)
    result: dict[str, Any] = {"samples": samples, "seed": seed, "confidence": confidence, "mode": mode}
    n = len(gold)
    counts = _sentence_counts(gold, pred, types, mode) if types else np.zeros((n, 0, 3), dtype=np.int64)
    total = counts.sum(axis=0)
    alpha = (1 - confidence) / 2
    rng = np.random.default_rng(seed)
    micro, per_type = [], []
    # Chunks keep memory at (chunk x sentences x types x 3) whatever the number of samples.
    for start in range(0, samples, 200):
        draw = rng.integers(0, n, size=(min(200, samples - start), n)) if n else np.zeros((0, 0), dtype=int)
        sums = counts[draw].sum(axis=1)  # (chunk, types, 3)
        micro.append(_f1(sums[:, :, 0].sum(1), sums[:, :, 1].sum(1), sums[:, :, 2].sum(1)))
        per_type.append(_f1(sums[:, :, 0], sums[:, :, 1], sums[:, :, 2]))
    micro_f1 = np.concatenate(micro) if micro else np.zeros(0)
    type_f1 = np.concatenate(per_type) if per_type else np.zeros((0, len(types)))

    def interval(point: float, values: np.ndarray) -> dict[str, float]:
        values = values[~np.isnan(values)]
        if not len(values):
            return {"f1": point, "low": float("nan"), "high": float("nan")}
        low, high = np.quantile(values, [alpha, 1 - alpha])
        return {"f1": point, "low": float(low), "high": float(high)}

    result["micro"] = interval(float(np.nan_to_num(_f1(total[:, 0].sum(), total[:, 1].sum(), total[:, 2].sum()))), micro_f1)
    result["types"] = {
        t: interval(float(np.nan_to_num(_f1(total[i, 0], total[i, 1], total[i, 2]))), type_f1[:, i]) for i, t in enumerate(types)
    }
    return result


# ------------------------------------------------------------------------------------ error analysis


def _overlaps(a: EntitySpan, b: EntitySpan) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def _classify(gold_entities: set[EntitySpan], pred_entities: set[EntitySpan]) -> tuple[dict, dict]:
    """For each gold and each predicted entity of a sentence: what happened to it.

    A gold entity is ``correct``, ``type`` (a prediction with its exact span has another type), ``boundary``
    (no prediction with its span, but one overlaps it) or ``missed``. A predicted entity is ``correct``,
    ``type``, ``boundary`` or ``spurious`` (it overlaps no gold entity).
    """
    return _fates(gold_entities, pred_entities, "missed"), _fates(pred_entities, gold_entities, "spurious")


def _fates(entities: set[EntitySpan], others: set[EntitySpan], unmatched: str) -> dict[EntitySpan, str]:
    # The same four-way reading from either side: gold against predictions, predictions against gold.
    other_by_span = {(s, e): label for label, s, e in others}
    fates = {}
    for entity in entities:
        label, s, e = entity
        if other_by_span.get((s, e)) == label:
            fates[entity] = "correct"
        elif (s, e) in other_by_span:
            fates[entity] = "type"
        elif any(_overlaps(entity, other) for other in others):
            fates[entity] = "boundary"
        else:
            fates[entity] = unmatched
    return fates


def confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "strict") -> dict[str, Any]:
    """Type confusion table over entities, read in ``mode``.

    ``rows[g][p]``: gold entities of type ``g`` predicted with exactly the same span as type ``p`` (the
    diagonal is correct); ``rows[g]["boundary"]``: gold entities with no same-span prediction but an
    overlapping one; ``rows[g]["missed"]``: no overlapping prediction. ``spurious[p]``: predictions
    overlapping no gold entity; ``boundary[p]``: predictions overlapping a gold entity with another span.
    Every gold entity is counted once in its row; every prediction once in its column.
    """
    check_lengths(gold, pred)
    types = _types_of(gold, pred, mode)
    rows = {g: {**{p: 0 for p in types}, "boundary": 0, "missed": 0} for g in types}
    spurious = {p: 0 for p in types}
    boundary = {p: 0 for p in types}
    for g_tags, p_tags in zip(gold, pred):
        gold_entities, pred_entities = extract_entities(g_tags, mode), extract_entities(p_tags, mode)
        gold_fate, pred_fate = _classify(gold_entities, pred_entities)
        pred_by_span = {(s, e): label for label, s, e in pred_entities}
        for (label, s, e), fate in gold_fate.items():
            if fate in ("correct", "type"):
                rows[label][pred_by_span[(s, e)]] += 1
            else:
                rows[label][fate] += 1
        for (label, _, _), fate in pred_fate.items():
            if fate == "spurious":
                spurious[label] += 1
            elif fate == "boundary":
                boundary[label] += 1
    return {"mode": mode, "types": types, "rows": rows, "spurious": spurious, "boundary": boundary}


def errors(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]], mode: str = "strict") -> list[dict[str, Any]]:
    """Every false negative and false positive, one record per sentence that has any.

    Each record: ``sent_id``, ``text``, and ``errors``: ``{kind: "FN"|"FP", type, start, end, tokens, fate}``
    where ``fate`` is ``type``, ``boundary``, ``missed`` or ``spurious`` (see :func:`confusion`).
    """
    check_lengths([s.tags for s in sentences], pred)
    out = []
    for sentence, p_tags in zip(sentences, pred):
        gold_entities, pred_entities = extract_entities(sentence.tags, mode), extract_entities(p_tags, mode)
        gold_fate, pred_fate = _classify(gold_entities, pred_entities)
        found = []
        for kind, fates in (("FN", gold_fate), ("FP", pred_fate)):
            for (label, s, e), fate in fates.items():
                if fate != "correct":
                    found.append({"kind": kind, "type": label, "start": s, "end": e, "tokens": " ".join(sentence.tokens[s:e]), "fate": fate})
        if found:
            found.sort(key=lambda r: (r["start"], r["kind"], r["end"]))
            out.append({"sent_id": sentence.sent_id, "text": _text_of(sentence), "errors": found,
                        "gold": _bracketed(sentence.tokens, gold_entities), "pred": _bracketed(sentence.tokens, pred_entities)})
    return out


def _bracketed(tokens: Sequence[str], entities: set[EntitySpan]) -> str:
    """The sentence with entities in brackets: ``[LOC Hà Nội]``, for reading."""
    starts = {s: (label, e) for label, s, e in entities}
    ends: Counter[int] = Counter(e for _, _, e in entities)
    words = []
    for i, token in enumerate(tokens):
        if i in starts:
            token = f"[{starts[i][0]} {token}"
        if ends.get(i + 1):
            token += "]"
        words.append(token)
    return " ".join(words)


def evaluate_tags(
    sentences: Sequence[Sentence],
    pred: Sequence[Sequence[str]],
    samples: int = 1000,
    seed: int = 0,
    with_errors: bool = True,
) -> dict[str, Any]:
    """The full report of predicted tags against gold ``sentences``: both modes, intervals, confusion, errors."""
    gold = [list(s.tags) for s in sentences]
    check_lengths(gold, pred)
    report: dict[str, Any] = {"sentences": len(sentences)}
    for mode in MODES:
        report[mode] = score_report(gold, pred, mode)
    report["bootstrap"] = {mode: bootstrap(gold, pred, mode, samples, seed) for mode in MODES}
    report["confusion"] = confusion(gold, pred, "strict")
    if with_errors:
        report["errors"] = errors(sentences, pred, "strict")
    return report


# --------------------------------------------------------------------------------- predictions files


def read_predictions(path: str | os.PathLike) -> tuple[list[Sentence], list[list[str]]]:
    """Read CoNLL with gold and predicted tags as the last two columns (``TOKEN ... GOLD PRED``).

    ``# sent_id = `` / ``# text = `` comments are kept, other comments and ``-DOCSTART-`` lines skipped.
    Returns the gold sentences and the predicted tags. Raises ``CorpusFormatError`` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    sentences: list[Sentence] = []
    predicted: list[list[str]] = []
    tokens: list[str] = []
    gold: list[str] = []
    pred: list[str] = []
    meta: dict[str, str] = {}
    first = 0

    def flush() -> None:
        nonlocal tokens, gold, pred, meta, first
        if tokens:
            sent_id = meta.get("sent_id", f"{path.stem}-{len(sentences) + 1}")
            sentences.append(Sentence(tuple(tokens), tuple(gold), sent_id, meta.get("text", ""), first))
            predicted.append(pred)
        tokens, gold, pred, meta, first = [], [], [], {}, 0

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("#") and not tokens:
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() in ("sent_id", "text"):
                meta[key.strip()] = value.strip() if key.strip() == "sent_id" else value.removeprefix(" ")
            continue
        if line.startswith("-DOCSTART-"):
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) < 3 or not all(c.strip() for c in columns[-2:]):
            raise CorpusFormatError(f"{path}:{number}: expected TOKEN<TAB>GOLD<TAB>PRED, got {line!r}")
        first = first or number
        tokens.append(columns[0])
        gold.append(columns[-2].strip())
        pred.append(columns[-1].strip())
    flush()
    if not sentences:
        raise CorpusFormatError(f"{path}: no sentences")
    return sentences, predicted


def format_predictions(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]]) -> str:
    """CoNLL text with ``TOKEN<TAB>GOLD<TAB>PRED`` lines, readable by :func:`read_predictions` and conlleval."""
    blocks = []
    for sentence, tags in zip(sentences, pred):
        lines = [f"# sent_id = {sentence.sent_id}"] if sentence.sent_id else []
        if sentence.text:
            lines.append(f"# text = {sentence.text}")
        lines.extend(f"{t}\t{g}\t{p}" for t, g, p in zip(sentence.tokens, sentence.tags, tags))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


# ------------------------------------------------------------------ from character spans to syllable tags


def _text_of(sentence: Sentence) -> str:
    return sentence.text or " ".join(sentence.tokens)


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


def spans_to_tags(offsets: Sequence[tuple[int, int]], spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """IOB2 syllable tags from character spans ``(start, end, label)``.

    A token is in a span when their characters overlap, so a span that cuts a token takes the whole token.
    Spans are applied in text order; a token already taken by an earlier span stays with it.
    """
    tags = ["O"] * len(offsets)
    for start, end, label in sorted(spans):
        inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start and tags[i] == "O"]
        # Keep only the first contiguous run, so one span never yields two entities.
        run = [i for k, i in enumerate(inside) if i - inside[0] == k]
        for k, i in enumerate(run):
            tags[i] = ("B-" if k == 0 else "I-") + label
    return tags


class ModelTagger:
    """A trained model, run the way users run it: ``NerTagger.predict`` on each sentence's raw ``# text``.

    Predicted character spans are mapped onto the gold syllables by offsets, so the score includes the
    inference path's own sentence splitting, tokenization, segmentation and windowing.
    """

    def __init__(self, tagger: Any, batch_size: int = 32) -> None:
        self.tagger = tagger
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, batch_size: int = 32, device: str = "cpu") -> ModelTagger:
        """Load a model directory written by ``train.py`` with ``NerTagger.from_pretrained``."""
        from .inference import NerTagger

        return cls(NerTagger.from_pretrained(str(model_dir), device=device), batch_size)

    def __call__(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        texts = [unicodedata.normalize("NFC", _text_of(s)) for s in sentences]
        results = self.tagger.predict(texts, batch_size=self.batch_size)
        out = []
        for sentence, text, entities in zip(sentences, texts, results):
            offsets = token_offsets(text, [unicodedata.normalize("NFC", t) for t in sentence.tokens])
            out.append(spans_to_tags(offsets, [(e.start, e.end, e.label) for e in entities]))
        return out


# ------------------------------------------------------------------------------------------ baselines


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
            for label, s, e in extract_entities(sentence.tags, "strict"):
                seen[tuple(sentence.tokens[s:e])][label] += 1
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

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Entity character spans ``(start, end, label)`` underthesea finds in ``text`` (mapped labels)."""
        rows = self._ner(text)
        words = [row[0] for row in rows]
        tags = [row[-1] for row in rows]
        located = _align_words(text, words)
        out = []
        for label, first, last in get_entities(list(tags)):
            ours = UNDERTHESEA_LABELS.get(label)
            if ours is None or located[first] is None or located[last] is None:
                continue
            out.append((located[first][0], located[last][1], ours))
        return out

    def __call__(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        out = []
        for sentence in sentences:
            text = unicodedata.normalize("NFC", _text_of(sentence))
            offsets = token_offsets(text, [unicodedata.normalize("NFC", t) for t in sentence.tokens])
            out.append(spans_to_tags(offsets, self.spans(text)))
        return out


def restrict_types(tags: Sequence[str], types: Iterable[str]) -> list[str]:
    """``tags`` with every entity of a type not in ``types`` set to O."""
    keep = set(types)
    return [t if t == "O" or t[2:] in keep else "O" for t in tags]


def score_system(
    sentences: Sequence[Sentence], pred: Sequence[Sequence[str]], types: Sequence[str] = TYPES, samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Score one system for :func:`format_comparison`: strict-mode report and micro-F1 interval on ``types`` only.

    Gold and predicted entities of other types are set to O first, so a system that knows only some types
    (underthesea: PER/ORG/LOC) is neither credited nor blamed for the others.
    """
    gold = [restrict_types(s.tags, types) for s in sentences]
    pred = [restrict_types(p, types) for p in pred]
    return {"types": list(types), "report": score_report(gold, pred, "strict"), "interval": bootstrap(gold, pred, "strict", samples, seed)}


# --------------------------------------------------------------------------------------------- corpus


def load_articles(data_dir: str | os.PathLike = "data/annotated") -> dict[str, list[Sentence]]:
    """The gold sentences of every article: ``{article id: sentences}`` from ``DATA_DIR/*.conll``."""
    files = sorted(Path(data_dir).glob("*.conll"))
    if not files:
        raise CorpusFormatError(f"{data_dir}: no .conll files")
    return {f.stem: read_conll(f) for f in files}


def load_split(split: str, data_dir: str | os.PathLike = "data/annotated", splits_file: str | os.PathLike = "data/splits.json") -> list[Sentence]:
    """The gold sentences of ``split`` (``train``/``dev``/``test``) as ``splits_file`` lists them."""
    if split not in SPLITS:
        raise CorpusFormatError(f"no split {split!r}; choose one of {', '.join(SPLITS)}")
    return read_corpus(data_dir, splits_file)[split]


# ----------------------------------------------------------------------------------- cross-validation


@dataclass(frozen=True)
class Fold:
    """One leave-one-article-out fold: train on ``train``, stop early on ``dev``, score on ``test``."""

    index: int
    test: str
    dev: str
    train: tuple[str, ...]
    output_dir: Path = field(default=Path("."), compare=False)


def folds(articles: Sequence[str], output_dir: str | os.PathLike = "outputs/cv") -> list[Fold]:
    """One fold per article: it is the test set, the next article (cyclically) is dev, the rest train.

    Dev must be an article other than the test one, or early stopping would peek at the test set.
    """
    articles = sorted(articles)
    if len(articles) < 3:
        raise ValueError(f"cross-validation needs at least 3 articles (test, dev, train); got {len(articles)}")
    out = []
    for i, test in enumerate(articles):
        dev = articles[(i + 1) % len(articles)]
        train = tuple(a for a in articles if a not in (test, dev))
        out.append(Fold(i, test, dev, train, Path(output_dir) / f"fold{i}-{test}"))
    return out


def train_fold_with_script(
    config: str | os.PathLike,
    data_dir: str | os.PathLike = "data/annotated",
    overrides: Sequence[str] = (),
    script: str | os.PathLike | None = None,
) -> Callable[[Fold], Tagger]:
    """A fold trainer that runs ``python train.py --config CONFIG`` for the fold and serves its model.

    The fold's split is written to ``FOLD_DIR/splits.json`` and passed with ``--set data.splits=...`` (and
    ``data.dir``); the output goes to ``FOLD_DIR/run`` (``--set output_dir=...``) and the fold is scored with
    the model saved in ``run/model``, through the same raw-text path as ``--model``. ``script`` defaults to
    ``train.py`` in the working directory, else the one beside this package's source tree.
    """
    if script is None:
        candidates = [Path("train.py"), Path(__file__).resolve().parents[2] / "train.py"]
        script = next((c for c in candidates if c.is_file()), None)
        if script is None:
            raise FileNotFoundError("train.py not found (run from the repository root)")

    def train(fold: Fold) -> Tagger:
        fold.output_dir.mkdir(parents=True, exist_ok=True)
        splits = fold.output_dir / "splits.json"
        splits.write_text(json.dumps({"train": list(fold.train), "dev": [fold.dev], "test": [fold.test]}, indent=2) + "\n", encoding="utf-8")
        run_dir = fold.output_dir / "run"
        command = [sys.executable, str(script), "--config", str(config), "--overwrite",
                   "--set", f"data.splits={splits}", "--set", f"data.dir={data_dir}",
                   "--set", f"output_dir={run_dir}", *[a for o in overrides for a in ("--set", o)]]
        logger.info("fold %d: %s", fold.index, " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fold {fold.index} ({fold.test}): train.py failed:\n{done.stderr[-2000:]}")
        return ModelTagger.from_pretrained(run_dir / "model")

    return train


def cross_validate(
    articles: dict[str, list[Sentence]],
    train_fold: Callable[[Fold], Tagger],
    output_dir: str | os.PathLike = "outputs/cv",
    mode: str = "strict",
) -> dict[str, Any]:
    """Leave-one-article-out cross-validation: train one model per held-out article and score it.

    ``train_fold(fold)`` trains on the fold's articles and returns a tagger; the held-out article is scored
    with :func:`score`. Returns per-fold rows and, per column, mean and sample standard deviation over the
    folds. A type absent from a held-out article has no F1 in that fold (``None``) and is averaged over the
    folds where it occurs; micro F1 is over all types.
    """
    rows = []
    for fold in folds(list(articles), output_dir):
        tagger = train_fold(fold)
        test = articles[fold.test]
        pred = tagger(test)
        report = score_report([s.tags for s in test], pred, mode)
        row: dict[str, Any] = {
            "fold": fold.index, "test": fold.test, "dev": fold.dev, "sentences": len(test),
            "entities": report["micro avg"]["support"], "micro_f1": report["micro avg"]["f1"],
            "precision": report["micro avg"]["precision"], "recall": report["micro avg"]["recall"],
        }
        for t in TYPES:
            has = t in report and report[t]["support"] > 0
            row[f"{t}_f1"] = report[t]["f1"] if has else None
            row[f"{t}_support"] = report[t]["support"] if t in report else 0
        rows.append(row)
    columns = ["micro_f1", "precision", "recall"] + [f"{t}_f1" for t in TYPES]
    summary = {}
    for column in columns:
        values = [r[column] for r in rows if r[column] is not None]
        summary[column] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "folds": len(values),
        }
    return {"mode": mode, "folds": rows, "summary": summary}


# --------------------------------------------------------------------------------------- formatting


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _rows_of(report: dict[str, Any]) -> list[str]:
    types = sorted({name for mode in MODES for name in report[mode] if name not in AVERAGES})
    return types + list(AVERAGES)


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def format_report(report: dict[str, Any], markdown: bool = False) -> str:
    """The classification report with both modes side by side, plus the bootstrap intervals."""
    header = ["type"] + [f"{k} ({m})" for m in ("strict", "default") for k in ("P", "R", "F1")] + ["support"]
    rows = []
    empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    for name in _rows_of(report):
        cells = [name]
        for mode in MODES:
            r = report[mode].get(name, empty)
            cells += [_fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"])]
        cells.append(str(report["strict"].get(name, report["default"].get(name, empty))["support"]))
        rows.append(cells)
    text = _table(header, rows, markdown)
    if "bootstrap" in report:
        lines = []
        for mode in MODES:
            b = report["bootstrap"][mode]
            micro = b["micro"]
            lines.append(
                f"micro F1 ({MODE_TITLES[mode]}): {_fmt(micro['f1'])}, {b['confidence']:.0%} CI [{_fmt(micro['low'])}, "
                f"{_fmt(micro['high'])}] (bootstrap over {report['sentences']} sentences, {b['samples']} samples, seed {b['seed']})"
            )
        text += "\n\n" + ("\n".join(f"- {line}" for line in lines) if markdown else "\n".join(lines))
    return text


def format_confusion(table: dict[str, Any], markdown: bool = False) -> str:
    """The type confusion table: gold type per row, predicted type per column (same span)."""
    types = table["types"]
    header = ["gold \\ pred"] + types + ["boundary", "missed", "gold total"]
    rows = []
    for g in types:
        r = table["rows"][g]
        rows.append([g] + [str(r[p]) for p in types] + [str(r["boundary"]), str(r["missed"]), str(sum(r.values()))])
    for name in ("boundary", "spurious"):
        rows.append([f"({name})"] + [str(table[name][p]) for p in types] + ["", "", ""])
    predicted = [sum(table["rows"][g][p] for g in types) + table["boundary"][p] + table["spurious"][p] for p in types]
    rows.append(["pred total"] + [str(n) for n in predicted] + ["", "", ""])
    return _table(header, rows, markdown)


def format_errors(records: Sequence[dict[str, Any]]) -> str:
    """The error file: each sentence with errors, its gold and predicted bracketing, then each FN/FP."""
    n_fn = sum(e["kind"] == "FN" for r in records for e in r["errors"])
    n_fp = sum(e["kind"] == "FP" for r in records for e in r["errors"])
    out = [f"# {n_fn} false negatives and {n_fp} false positives in {len(records)} sentences (IOB2 strict)",
           "# fate: type = same span, other type; boundary = overlaps with other span; missed / spurious = no overlap", ""]
    for record in records:
        out.append(f"## {record['sent_id']}")
        out.append(f"text: {record['text']}")
        out.append(f"gold: {record['gold']}")
        out.append(f"pred: {record['pred']}")
        for e in record["errors"]:
            out.append(f"  {e['kind']}  {e['type']:<6} {e['fate']:<9} [{e['start']}:{e['end']}] {e['tokens']}")
        out.append("")
    return "\n".join(out)


def format_comparison(systems: dict[str, dict[str, Any]], markdown: bool = False) -> str:
    """F1 per type and micro F1 with its interval for several systems on the same sentences (strict mode).

    Each value of ``systems`` holds ``report`` (a :func:`score` dict), ``interval`` (a :func:`bootstrap`
    dict) and ``types`` (the types it is scored on).
    """
    header = ["system", "scored on"] + list(TYPES) + ["micro F1", "95% CI"]
    rows = []
    for name, s in systems.items():
        report, interval = s["report"], s["interval"]["micro"]
        cells = [name, "/".join(s["types"]) if len(s["types"]) < len(TYPES) else "all types"]
        cells += [_fmt(report[t]["f1"]) if t in s["types"] and t in report else "—" for t in TYPES]
        cells += [_fmt(report["micro avg"]["f1"]), f"[{_fmt(interval['low'])}, {_fmt(interval['high'])}]"]
        rows.append(cells)
    return _table(header, rows, markdown)


def format_cross_validation(result: dict[str, Any], markdown: bool = False) -> str:
    """Per-fold F1 (overall and per type) and mean ± std over folds."""
    header = ["fold", "held-out article", "sentences", "entities", "micro F1", "P", "R"] + [f"{t} F1" for t in TYPES]
    rows = []
    for r in result["folds"]:
        rows.append([str(r["fold"]), r["test"], str(r["sentences"]), str(r["entities"]), _fmt(r["micro_f1"]),
                     _fmt(r["precision"]), _fmt(r["recall"])] + [_fmt(r[f"{t}_f1"]) for t in TYPES])
    summary = result["summary"]

    def pm(column: str) -> str:
        s = summary[column]
        if s["mean"] is None:
            return "—"
        return f"{s['mean']:.3f} ± {s['std']:.3f}" if s["std"] is not None else f"{s['mean']:.3f}"

    rows.append(["mean ± std", "", "", "", pm("micro_f1"), pm("precision"), pm("recall")] + [pm(f"{t}_f1") for t in TYPES])
    return _table(header, rows, markdown)


def report_markdown(report: dict[str, Any], title: str = "Evaluation") -> str:
    """The whole report as a Markdown document: scores, intervals, confusion table, baselines."""
    parts = [f"# {title}", "", f"{report['sentences']} sentences. Source: {report.get('source', '')}", "",
             "## Classification report (seqeval)", "", format_report(report, markdown=True), "",
             "## Type confusion (IOB2 strict)", "", format_confusion(report["confusion"], markdown=True), ""]
    if report.get("comparison"):
        parts += ["## Model and baselines (IOB2 strict)", "", format_comparison(report["comparison"], markdown=True), ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ notebook helpers


_COLOURS = {"PER": "#fbb4ae", "ORG": "#b3cde3", "LOC": "#ccebc5", "MONEY": "#fed9a6", "DATE": "#decbe4"}


def render_spans_html(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """HTML of ``text`` with character spans ``(start, end, label)`` highlighted and labelled."""
    import html

    parts, cursor = [], 0
    for start, end, label in sorted(spans):
        if start < cursor:
            continue  # overlapping spans cannot both be drawn; keep the first
        parts.append(html.escape(text[cursor:start]))
        colour = _COLOURS.get(label, "#eeeeee")
        parts.append(f'<mark style="background:{colour};padding:0 3px;border-radius:3px">{html.escape(text[start:end])}'
                     f' <sub style="font-size:70%;font-weight:bold">{html.escape(label)}</sub></mark>')
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return '<p style="line-height:2">' + "".join(parts) + "</p>"


def render_entities_html(sentence: Sentence, tags: Sequence[str] | None = None) -> str:
    """HTML of a sentence with its entities highlighted and labelled (``tags`` default to the gold ones).

    The sentence's own ``# text`` is shown (spacing and punctuation as written) when its tokens can be
    found in it; otherwise the tokens joined by spaces.
    """
    tags = list(sentence.tags if tags is None else tags)
    text = _text_of(sentence)
    try:
        offsets = token_offsets(text, sentence.tokens)
    except ValueError:
        text = " ".join(sentence.tokens)
        offsets = token_offsets(text, sentence.tokens)
    return render_spans_html(text, [(offsets[s][0], offsets[e - 1][1], label) for label, s, e in extract_entities(tags, "strict")])


def plot_scores(report: dict[str, Any], ax=None, mode: str = "strict", title: str | None = None):
    """Bar chart of F1 per type (and micro) with bootstrap 95% intervals as error bars."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    b = report["bootstrap"][mode]
    names = list(b["types"]) + ["micro"]
    values = [b["types"][t] for t in b["types"]] + [b["micro"]]
    f1 = np.array([v["f1"] for v in values])
    low = np.array([v["low"] for v in values])
    high = np.array([v["high"] for v in values])
    errors_ = np.nan_to_num(np.vstack([f1 - low, high - f1]).clip(min=0))
    support = [report[mode].get(t, {}).get("support", 0) for t in b["types"]] + [report[mode]["micro avg"]["support"]]
    bars = ax.bar(names, f1, yerr=errors_, capsize=4, color=[_COLOURS.get(n, "#999999") for n in names], edgecolor="black")
    for bar, n in zip(bars, support):
        ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, 0.02), ha="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("entity type")
    ax.set_ylabel("F1 (entity level, 0–1)")
    ax.set_title(title or f"Test F1 per type with {b['confidence']:.0%} bootstrap CI ({MODE_TITLES[mode]})")
    return ax


def plot_confusion(table: dict[str, Any], ax=None, title: str = "Type confusion (gold vs predicted entities)"):
    """Heat map of :func:`confusion`: gold type per row; predicted type, boundary and missed per column."""
    import matplotlib.pyplot as plt

    types = table["types"]
    columns = types + ["boundary", "missed"]
    row_names = types + ["(boundary)", "(spurious)"]
    matrix = np.array(
        [[table["rows"][g][c] for c in columns] for g in types]
        + [[table["boundary"][p] for p in types] + [0, 0], [table["spurious"][p] for p in types] + [0, 0]]
    )
    ax = ax or plt.subplots(figsize=(7, 5))[1]
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(row_names)), row_names)
    for (r, c), value in np.ndenumerate(matrix):
        if value:
            ax.text(c, r, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted type (same span) / error kind")
    ax.set_ylabel("gold type / unmatched prediction")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label="entities (count)")
    return ax


def plot_comparison(systems: dict[str, dict[str, Any]], ax=None, title: str = "Micro F1 of the model and the baselines (test)"):
    """Horizontal bars of each system's micro F1 (from :func:`score_system`) with its bootstrap 95% interval."""
    import matplotlib.pyplot as plt

    names = list(systems)
    ax = ax or plt.subplots(figsize=(8, 0.6 * len(names) + 1.5))[1]
    f1 = np.array([systems[n]["report"]["micro avg"]["f1"] for n in names])
    low = np.array([systems[n]["interval"]["micro"]["low"] for n in names])
    high = np.array([systems[n]["interval"]["micro"]["high"] for n in names])
    ax.barh(names, f1, xerr=np.nan_to_num(np.vstack([f1 - low, high - f1]).clip(min=0)), capsize=4, color="#9ecae1", edgecolor="black")
    for y, value in enumerate(f1):
        ax.annotate(f"{value:.3f}", (value, y), xytext=(6, 6), textcoords="offset points", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("micro F1 (entity level, IOB2 strict, 0–1), bars: 95% bootstrap CI")
    ax.set_ylabel("system (types scored)")
    ax.set_title(title)
    return ax


# ------------------------------------------------------------------------------------ command line


def _derived(output: Path | None, suffix: str) -> Path | None:
    return None if output is None else output.with_name(output.stem + suffix)


def _write(path: Path | None, text: str, overwrite: bool) -> None:
    if path is not None:
        atomic_write_text(path, text, overwrite=overwrite)
        print(f"wrote {path}", file=sys.stderr)


def _evaluate(args: argparse.Namespace) -> int:
    if args.predictions:
        sentences, pred = read_predictions(args.predictions)
        source = f"predictions file {args.predictions}"
    else:
        sentences = read_conll(args.data) if args.data else load_split(args.split, args.data_dir, args.splits)
        if not sentences:
            raise CorpusFormatError(f"{args.data or args.split}: no sentences")
        source = f"{args.data or f'split {args.split!r} of {args.data_dir}'}"
        if args.model:
            pred = ModelTagger.from_pretrained(args.model, batch_size=args.batch_size, device=args.device)(sentences)
            source = f"model {args.model} on {source}"
        else:
            pred = None
    systems: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] | None = None
    if pred is not None:
        report = evaluate_tags(sentences, pred, args.bootstrap, args.seed)
        report["source"] = source
        name = "model" if args.model else "predictions"
        systems[name] = score_system(sentences, pred, TYPES, args.bootstrap, args.seed)
        systems[f"{name} (PER/ORG/LOC)"] = score_system(sentences, pred, UNDERTHESEA_TYPES, args.bootstrap, args.seed)
    for baseline in args.baselines:
        if baseline == "dictionary":
            train = read_conll(args.train) if args.train else load_split("train", args.data_dir, args.splits)
            tags = DictionaryTagger.fit(train)(sentences)
            systems["dictionary"] = score_system(sentences, tags, TYPES, args.bootstrap, args.seed)
            systems["dictionary (PER/ORG/LOC)"] = score_system(sentences, tags, UNDERTHESEA_TYPES, args.bootstrap, args.seed)
        elif baseline == "underthesea":
            systems["underthesea ner()"] = score_system(sentences, UndertheseaTagger()(sentences), UNDERTHESEA_TYPES, args.bootstrap, args.seed)
    if report is None and not systems:
        raise SystemExit("error: nothing to score: give --model, --predictions or --baselines")
    out = []
    if report is not None:
        out += [f"{len(sentences)} sentences; {source}", "", "Classification report (seqeval; both modes)", format_report(report), "",
                "Type confusion (IOB2 strict; rows: gold, columns: predicted with the same span)", format_confusion(report["confusion"]), ""]
    if systems:
        out += ["Model and baselines (IOB2 strict; underthesea: PER/ORG/LOC against gold restricted to them)", format_comparison(systems), ""]
    print("\n".join(out))
    output = Path(args.output) if args.output else None
    document = report or {"sentences": len(sentences), "source": source}
    document["comparison"] = systems
    if report is not None and args.output is None and args.errors is None:
        print(f"{sum(len(r['errors']) for r in report['errors'])} errors; write them with --errors FILE or --output FILE", file=sys.stderr)
    _write(output, json.dumps(document, ensure_ascii=False, indent=2) + "\n", args.overwrite)
    if report is not None:
        _write(Path(args.markdown) if args.markdown else _derived(output, ".md"), report_markdown(report), args.overwrite)
        _write(Path(args.errors) if args.errors else _derived(output, ".errors.txt"), format_errors(report["errors"]), args.overwrite)
        if args.model:
            _write(_derived(output, ".predictions.conll"), format_predictions(sentences, pred), args.overwrite)
    return 0


def _cross_validate(args: argparse.Namespace) -> int:
    if not args.config:
        raise SystemExit("error: --cross-validate needs --config")
    output_dir = Path(args.cv_dir or f"outputs/cv-{Path(args.config).stem}")
    articles = load_articles(args.data_dir)
    train = train_fold_with_script(args.config, args.data_dir, args.set)
    result = cross_validate(articles, train, output_dir)
    result["config"] = str(args.config)
    table = format_cross_validation(result)
    print(f"Leave-one-article-out cross-validation of {args.config} (IOB2 strict; std over folds, n-1)\n{table}")
    _write(output_dir / "cross_validation.json", json.dumps(result, ensure_ascii=False, indent=2) + "\n", True)
    _write(output_dir / "cross_validation.md", format_cross_validation(result, markdown=True) + "\n", True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``evaluate.py``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="evaluate.py",
        description="Score NER output with seqeval (IOB2 strict and default modes), with a bootstrap interval, "
        "a type confusion table, an error file and baselines; or cross-validate a config leaving one article out.",
    )
    source = parser.add_argument_group("what to score")
    source.add_argument("--model", help="model directory written by train.py (scored through NerTagger.predict)")
    source.add_argument("--predictions", help="CoNLL file with TOKEN ... GOLD PRED columns; no model needed")
    source.add_argument("--split", default="test", help="split of --splits to score (default: test)")
    source.add_argument("--data", help="a gold CoNLL file to score instead of a split")
    source.add_argument("--data-dir", default="data/annotated", help="folder of gold .conll articles (default: data/annotated)")
    source.add_argument("--splits", default="data/splits.json", help="splits file (default: data/splits.json)")
    source.add_argument("--train", help="gold CoNLL file the dictionary baseline learns from (default: the train split)")
    source.add_argument("--baselines", nargs="*", choices=["dictionary", "underthesea"], default=None,
                        help="baselines scored on the same sentences (default: both, except with --predictions; "
                        "give the flag alone for none)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", help="JSON report; beside it REPORT.md, REPORT.errors.txt and (with --model) REPORT.predictions.conll")
    out.add_argument("--markdown", help="Markdown report (default: beside --output)")
    out.add_argument("--errors", help="error file listing every FP and FN with its sentence (default: beside --output)")
    out.add_argument("--overwrite", action="store_true", help="replace existing output files")
    out.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    out.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    run = parser.add_argument_group("model")
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    cv = parser.add_argument_group("cross-validation")
    cv.add_argument("--cross-validate", action="store_true", help="leave-one-article-out: train one model per article with train.py")
    cv.add_argument("--config", help="training config for --cross-validate")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override passed to train.py (repeatable)")
    cv.add_argument("--cv-dir", help="where folds are trained and the table written (default: outputs/cv-CONFIG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.model and args.predictions:
        parser.error("give --model or --predictions, not both")
    if args.baselines is None:
        # A predictions file may come from another corpus, with no training split to learn a dictionary from.
        args.baselines = [] if args.predictions else ["dictionary", "underthesea"]
    try:
        return _cross_validate(args) if args.cross_validate else _evaluate(args)
    except (CorpusFormatError, FileExistsError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
