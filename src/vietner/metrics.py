"""Entity-level scores with seqeval: precision, recall, F1 and support, overall (micro) and per type.

Two modes are reported side by side. ``strict`` is seqeval's IOB2 strict mode: an entity counts only if its
tags form a valid IOB2 span (``B-X I-X ...``) with the gold boundaries and type. ``default`` is seqeval's
default mode, compatible with CoNLL's ``conlleval``: a stray ``I-X`` still opens an entity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

__all__ = ["MODES", "entity_scores", "score_modes", "f1"]

MODES = ("strict", "default")
Scores = dict[str, Any]


def _rounded(row: dict[str, float]) -> dict[str, float | int]:
    return {
        "precision": float(row["precision"]),
        "recall": float(row["recall"]),
        "f1": float(row["f1-score"]),
        "support": int(row["support"]),
    }


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "strict") -> Scores:
    """Return ``{"overall": {...}, "per_type": {TYPE: {...}}}`` with precision, recall, f1 and support.

    ``gold`` and ``pred`` are IOB2 tag sequences, one per sentence, of equal lengths. ``overall`` is the
    micro average over entities; ``support`` counts gold entities. Types that occur only in predictions are
    listed with support 0.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    gold_lists, pred_lists = [list(g) for g in gold], [list(p) for p in pred]
    if not any(tag != "O" for tags in gold_lists + pred_lists for tag in tags):
        # seqeval's report is undefined without any entity; nothing was found and nothing was missed.
        return {"overall": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}, "per_type": {}}
    options = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    report = classification_report(gold_lists, pred_lists, output_dict=True, zero_division=0, **options)
    per_type = {name: _rounded(row) for name, row in report.items() if not name.endswith(" avg")}
    return {"overall": _rounded(report["micro avg"]), "per_type": dict(sorted(per_type.items()))}


def score_modes(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Scores]:
    """Return :func:`entity_scores` in both modes: ``{"strict": ..., "default": ...}``."""
    return {mode: entity_scores(gold, pred, mode) for mode in MODES}


def f1(scores: dict[str, Scores], mode: str = "strict") -> float:
    """Return the overall F1 of ``mode`` from a :func:`score_modes` result."""
    return float(scores[mode]["overall"]["f1"])
