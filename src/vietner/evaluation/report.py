"""Reports as text and Markdown tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..metrics import (
    AVERAGES,
    MODES,
)
from ..schema import types_of

# seqeval's two ways of reading entities out of tags (see vietner.metrics), as report headings.
MODE_TITLES = {"strict": "IOB2 strict", "default": "default (conlleval)"}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _rows_of(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """The table's rows: each type of either mode, then the averages under seqeval's names; as (row name,
    key of the scores, type or None)."""
    types = sorted({name for mode in MODES for name in report[mode]["per_type"]})
    return [(t, "per_type", t) for t in types] + [(label, key, None) for key, label in AVERAGES.items()]


def _cell(scores: dict[str, Any], key: str, kind: str | None) -> dict[str, Any] | None:
    """One row of one mode's scores (a type's, or an average), None when that mode lacks the type."""
    return scores[key].get(kind) if kind is not None else scores[key]


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
    for name, key, kind in _rows_of(report):
        cells = [name]
        for mode in MODES:
            r = _cell(report[mode], key, kind) or empty
            cells += [_fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"])]
        cells.append(str((_cell(report["strict"], key, kind) or _cell(report["default"], key, kind) or empty)["support"]))
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

    Each value of ``systems`` holds ``report`` (a :func:`vietner.metrics.entity_scores` dict), ``interval`` (a :func:`bootstrap`
    dict) and ``types`` (the types it is scored on). The columns are every type any system is scored on;
    a system scored on all of them is "all types".
    """
    types = types_of(f"B-{t}" for s in systems.values() for t in s["types"])
    header = ["system", "scored on"] + types + ["micro F1", "95% CI"]
    rows = []
    for name, s in systems.items():
        report, interval = s["report"], s["interval"]["micro"]
        cells = [name, "all types" if set(s["types"]) == set(types) else "/".join(s["types"])]
        cells += [_fmt(report["per_type"][t]["f1"]) if t in s["types"] and t in report["per_type"] else "—" for t in types]
        cells += [_fmt(report["overall"]["f1"]), f"[{_fmt(interval['low'])}, {_fmt(interval['high'])}]"]
        rows.append(cells)
    return _table(header, rows, markdown)


def format_cross_validation(result: dict[str, Any], markdown: bool = False) -> str:
    """Per-fold F1 (overall and per type: the types of the articles and predictions) and mean ± std over folds."""
    types = result["types"]
    header = ["fold", "held-out article", "sentences", "entities", "micro F1", "P", "R"] + [f"{t} F1" for t in types]
    rows = []
    for r in result["folds"]:
        rows.append([str(r["fold"]), r["test"], str(r["sentences"]), str(r["entities"]), _fmt(r["micro_f1"]),
                     _fmt(r["precision"]), _fmt(r["recall"])] + [_fmt(r[f"{t}_f1"]) for t in types])
    summary = result["summary"]

    def pm(column: str) -> str:
        s = summary[column]
        if s["mean"] is None:
            return "—"
        return f"{s['mean']:.3f} ± {s['std']:.3f}" if s["std"] is not None else f"{s['mean']:.3f}"

    rows.append(["mean ± std", "", "", "", pm("micro_f1"), pm("precision"), pm("recall")] + [pm(f"{t}_f1") for t in types])
    return _table(header, rows, markdown)


def report_markdown(report: dict[str, Any], title: str = "Evaluation") -> str:
    """The whole report as a Markdown document: scores, intervals, confusion table, baselines."""
    parts = [f"# {title}", "", f"{report['sentences']} sentences. Source: {report.get('source', '')}", "",
             "## Classification report (seqeval)", "", format_report(report, markdown=True), "",
             "## Type confusion (IOB2 strict)", "", format_confusion(report["confusion"], markdown=True), ""]
    if report.get("comparison"):
        parts += ["## Model and baselines (IOB2 strict)", "", format_comparison(report["comparison"], markdown=True), ""]
    return "\n".join(parts)
