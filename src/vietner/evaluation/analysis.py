"""Scores with uncertainty and where the errors are: a bootstrap interval over sentences, the type
confusion table and the error list, all over syllable-level IOB2 tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..corpus import (
    Sentence,
)
from ..metrics import (
    MODES,
    check_lengths,
    entity_scores,
)
from ..spans import Span, entities, mark


def sentence_text(sentence: Sentence) -> str:
    """The sentence as written (its ``# text``), or its tokens joined by spaces when it has none."""
    return sentence.text or " ".join(sentence.tokens)


def _sentence_counts(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], types: Sequence[str], mode: str
) -> np.ndarray:
    """Per sentence and type: [true positives, predicted, gold]. Summed, these give seqeval's scores."""
    index = {t: i for i, t in enumerate(types)}
    counts = np.zeros((len(gold), len(types), 3), dtype=np.int64)
    for s, (g, p) in enumerate(zip(gold, pred)):
        gold_entities, pred_entities = set(entities(g, mode)), set(entities(p, mode))
        for span in gold_entities & pred_entities:
            counts[s, index[span.label], 0] += 1
        for span in pred_entities:
            counts[s, index[span.label], 1] += 1
        for span in gold_entities:
            counts[s, index[span.label], 2] += 1
    return counts


def _f1(tp: np.ndarray, predicted: np.ndarray, gold: np.ndarray) -> np.ndarray:
    denominator = predicted + gold
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)


def _types_of(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str) -> list[str]:
    return sorted({span.label for tags in list(gold) + list(pred) for span in entities(tags, mode)})


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


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _classify(gold_entities: set[Span], pred_entities: set[Span]) -> tuple[dict, dict]:
    """For each gold and each predicted entity of a sentence: what happened to it.

    A gold entity is ``correct``, ``type`` (a prediction with its exact span has another type), ``boundary``
    (no prediction with its span, but one overlaps it) or ``missed``. A predicted entity is ``correct``,
    ``type``, ``boundary`` or ``spurious`` (it overlaps no gold entity).
    """
    return _fates(gold_entities, pred_entities, "missed"), _fates(pred_entities, gold_entities, "spurious")


def _fates(spans: set[Span], others: set[Span], unmatched: str) -> dict[Span, str]:
    # The same four-way reading from either side: gold against predictions, predictions against gold.
    other_by_span = {(o.start, o.end): o.label for o in others}
    fates = {}
    for entity in spans:
        if other_by_span.get((entity.start, entity.end)) == entity.label:
            fates[entity] = "correct"
        elif (entity.start, entity.end) in other_by_span:
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
        gold_entities, pred_entities = set(entities(g_tags, mode)), set(entities(p_tags, mode))
        gold_fate, pred_fate = _classify(gold_entities, pred_entities)
        pred_by_span = {(p.start, p.end): p.label for p in pred_entities}
        for span, fate in gold_fate.items():
            if fate in ("correct", "type"):
                rows[span.label][pred_by_span[(span.start, span.end)]] += 1
            else:
                rows[span.label][fate] += 1
        for span, fate in pred_fate.items():
            if fate == "spurious":
                spurious[span.label] += 1
            elif fate == "boundary":
                boundary[span.label] += 1
    return {"mode": mode, "types": types, "rows": rows, "spurious": spurious, "boundary": boundary}


def errors(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]], mode: str = "strict") -> list[dict[str, Any]]:
    """Every false negative and false positive, one record per sentence that has any.

    Each record: ``sent_id``, ``text``, and ``errors``: ``{kind: "FN"|"FP", type, start, end, tokens, fate}``
    where ``fate`` is ``type``, ``boundary``, ``missed`` or ``spurious`` (see :func:`confusion`).
    """
    check_lengths([s.tags for s in sentences], pred)
    out = []
    for sentence, p_tags in zip(sentences, pred):
        gold_entities, pred_entities = set(entities(sentence.tags, mode)), set(entities(p_tags, mode))
        gold_fate, pred_fate = _classify(gold_entities, pred_entities)
        found = []
        for kind, fates in (("FN", gold_fate), ("FP", pred_fate)):
            for span, fate in fates.items():
                if fate != "correct":
                    found.append({"kind": kind, "type": span.label, "start": span.start, "end": span.end,
                                  "tokens": " ".join(sentence.tokens[span.start : span.end]), "fate": fate})
        if found:
            found.sort(key=lambda r: (r["start"], r["kind"], r["end"]))
            out.append({"sent_id": sentence.sent_id, "text": sentence_text(sentence), "errors": found,
                        "gold": _bracketed(sentence.tokens, gold_entities), "pred": _bracketed(sentence.tokens, pred_entities)})
    return out


def _bracketed(tokens: Sequence[str], spans: set[Span]) -> str:
    """The sentence's tokens joined by spaces with entities in brackets: ``[LOC Hà Nội]``, for reading."""
    offsets, cursor = [], 0
    for token in tokens:
        offsets.append((cursor, cursor + len(token)))
        cursor += len(token) + 1
    return mark(" ".join(tokens), spans, offsets)


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
        report[mode] = entity_scores(gold, pred, mode)
    report["bootstrap"] = {mode: bootstrap(gold, pred, mode, samples, seed) for mode in MODES}
    report["confusion"] = confusion(gold, pred, "strict")
    if with_errors:
        report["errors"] = errors(sentences, pred, "strict")
    return report
