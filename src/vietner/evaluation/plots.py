"""Notebook helpers: entities highlighted in HTML, and matplotlib plots of scores, confusion and baselines."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..corpus import (
    Sentence,
)
from ..schema import DEFAULT_TYPES
from ..spans import Entity, Span, entities, mark
from .analysis import sentence_text
from .report import MODE_TITLES
from .taggers import token_offsets

# Pastel fills for the corpus's types, in DEFAULT_TYPES order; other types fall back to grey.
_COLOURS = dict(zip(DEFAULT_TYPES, ("#fbb4ae", "#b3cde3", "#ccebc5", "#fed9a6", "#decbe4")))


def _highlight(label: str, escaped: str) -> str:
    colour = _COLOURS.get(label, "#eeeeee")
    return (f'<mark style="background:{colour};padding:0 3px;border-radius:3px">{escaped}'
            f' <sub style="font-size:70%;font-weight:bold">{html.escape(label)}</sub></mark>')


def render_spans_html(text: str, found: Iterable[Entity | Span], offsets: Sequence[tuple[int, int]] | None = None) -> str:
    """HTML of ``text`` with entities highlighted and labelled: character-offset entities
    (``NerTagger.predict``'s), or token spans with each token's ``offsets``; of overlapping ones the first
    is drawn."""
    return '<p style="line-height:2">' + mark(text, found, offsets, _highlight, html.escape) + "</p>"


def render_entities_html(sentence: Sentence, tags: Sequence[str] | None = None) -> str:
    """HTML of a sentence with its entities highlighted and labelled (``tags`` default to the gold ones).

    The sentence's own ``# text`` is shown (spacing and punctuation as written) when its tokens can be
    found in it; otherwise the tokens joined by spaces.
    """
    tags = list(sentence.tags if tags is None else tags)
    text = sentence_text(sentence)
    try:
        offsets = token_offsets(text, sentence.tokens)
    except ValueError:
        text = " ".join(sentence.tokens)
        offsets = token_offsets(text, sentence.tokens)
    return render_spans_html(text, entities(tags, "strict"), offsets)


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
    scores = report[mode]
    support = [scores["per_type"].get(t, {}).get("support", 0) for t in b["types"]] + [scores["overall"]["support"]]
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
    f1 = np.array([systems[n]["report"]["overall"]["f1"] for n in names])
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
