"""Entity-level evaluation a reader can trust on a tiny corpus: seqeval reports, intervals, errors, baselines.

Everything here scores *syllable-level IOB2 tag sequences* with seqeval, whatever produced them:

- a trained model, on each gold sentence's own syllable tokens (``NerTagger.predict_tokens``, the
  prediction core ``train.py`` scores dev and test with, so ``evaluate.py --model`` reproduces
  ``metrics.json``);
- a predictions file (CoNLL with gold and predicted columns) written by any other system;
- two baselines: a dictionary of every entity string seen in training (longest match), and underthesea's
  own ``ner()`` for PER/ORG/LOC.

Reports put seqeval's IOB2 strict mode and its default (conlleval-compatible) mode side by side. With one
test article the score is noisy, so a seeded bootstrap over sentences gives a 95% interval; the type
confusion table and the error file show where the errors are. ``cross_validate`` runs leave-one-article-out
training and reports per-fold and mean ± std F1.

One module per concern: ``analysis`` (bootstrap, confusion, errors), ``taggers`` (the baselines and
the scoring of a system's tags), ``files`` (predictions files, gold articles), ``crossval``, ``report``
(text and Markdown) and ``plots`` (notebook helpers); ``evaluate.py``'s command line is
:mod:`vietner.cli.evaluate`.
"""

from __future__ import annotations

from typing import Any

from ..metrics import AVERAGES, MODES, entity_scores
from ..spans import entities
from .analysis import bootstrap, confusion, errors, evaluate_tags
from .crossval import Fold, cross_validate, folds, train_fold_with_script
from .files import format_predictions, load_articles, load_split, read_predictions
from .plots import (
    plot_comparison,
    plot_confusion,
    plot_scores,
    render_entities_html,
    render_spans_html,
)
from .report import (
    format_comparison,
    format_confusion,
    format_cross_validation,
    format_errors,
    format_report,
    report_markdown,
)
from .taggers import (
    UNDERTHESEA_LABELS,
    UNDERTHESEA_TYPES,
    DictionaryTagger,
    Tagger,
    UndertheseaTagger,
    restrict_types,
    score_system,
    spans_to_tags,
    token_offsets,
)

__all__ = [
    "AVERAGES",
    "MODES",
    "UNDERTHESEA_LABELS",
    "UNDERTHESEA_TYPES",
    "DictionaryTagger",
    "Fold",
    "Tagger",
    "UndertheseaTagger",
    "bootstrap",
    "confusion",
    "cross_validate",
    "errors",
    "evaluate_tags",
    "entities",
    "folds",
    "format_comparison",
    "format_confusion",
    "format_cross_validation",
    "format_errors",
    "format_predictions",
    "format_report",
    "load_articles",
    "load_split",
    "plot_comparison",
    "plot_confusion",
    "plot_scores",
    "read_predictions",
    "render_entities_html",
    "render_spans_html",
    "report_markdown",
    "restrict_types",
    "entity_scores",
    "score_system",
    "spans_to_tags",
    "token_offsets",
    "train_fold_with_script",
]


def __getattr__(name: str) -> Any:
    # ``vietner.evaluation.main`` is kept for one release: the command line lives in vietner.cli.evaluate,
    # above this package, so it is imported on demand rather than at import time (no import circle).
    if name == "main":
        from ..cli.evaluate import main

        return main
    raise AttributeError(f"module 'vietner.evaluation' has no attribute {name!r}")
