"""Entity-level scores with seqeval: precision, recall, F1 and support, overall and per type.

Two modes are reported side by side. ``strict`` is seqeval's IOB2 strict mode: an entity counts only if its
tags form a valid IOB2 span (``B-X I-X ...``) with the gold boundaries and type. ``default`` is seqeval's
default mode, compatible with CoNLL's ``conlleval``: a stray ``I-X`` still opens an entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from .spans import MODES, check_mode, entities

__all__ = ["MODES", "AVERAGES", "check_lengths", "entity_scores", "score_modes", "f1"]

# Our keys for seqeval's averages: ``overall`` is the micro average over entities, the score every F1 here
# means; macro (the mean over types) and weighted (by each type's support) come with it.
AVERAGES = {"overall": "micro avg", "macro": "macro avg", "weighted": "weighted avg"}
Scores = dict[str, Any]


def check_lengths(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Raise ``ValueError`` naming the first sentence whose gold and predicted tags differ in length."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def _seqeval_rows(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str) -> dict[str, Scores]:
    """seqeval's classification report as ``{TYPE | "micro avg" | "macro avg" | "weighted avg": {precision,
    recall, f1, support}}``."""
    # seqeval concatenates with ``seq + ['O']``, which fails on tuples.
    gold, pred = [list(tags) for tags in gold], [list(tags) for tags in pred]
    if not any(entities(tags, mode) for tags in gold + pred):
        # seqeval cannot build a report with no entity at all (it takes the max of no names).
        return {name: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for name in AVERAGES.values()}
    options = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    raw = classification_report(gold, pred, output_dict=True, zero_division=0, **options)
    return {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in raw.items()
    }


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "strict") -> Scores:
    """The one shape of scores (``metrics.json``'s and evaluate.py's report's; cross-validation's rows read it):
    ``{"overall": {...}, "per_type": {TYPE: {...}}, "macro": {...}, "weighted": {...}}``, each with
    precision, recall, f1 and support (gold entities).

    ``overall`` is the micro average over entities. Types that occur only in predictions are listed with
    support 0. ``mode="strict"`` is seqeval's ``mode="strict", scheme=IOB2``; ``mode="default"`` its default
    mode. Undefined ratios (no predictions, no gold) count as 0, as seqeval's ``zero_division=0``.
    """
    check_mode(mode)
    check_lengths(gold, pred)
    rows = _seqeval_rows(gold, pred, mode)
    per_type = {name: row for name, row in rows.items() if name not in AVERAGES.values()}
    scores = {"overall": rows[AVERAGES["overall"]], "per_type": dict(sorted(per_type.items()))}
    return scores | {key: rows[name] for key, name in AVERAGES.items() if key != "overall"}


def score_modes(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Scores]:
    """Return :func:`entity_scores` in both modes: ``{"strict": ..., "default": ...}``."""
    return {mode: entity_scores(gold, pred, mode) for mode in MODES}


def f1(scores: dict[str, Scores], mode: str = "strict") -> float:
    """Return the overall F1 of ``mode`` from a :func:`score_modes` result."""
    return float(scores[mode]["overall"]["f1"])
