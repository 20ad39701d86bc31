"""Leave-one-article-out cross-validation: one model per held-out article, per-fold and mean ± std F1."""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..corpus import (
    Sentence,
)
from ..metrics import (
    entity_scores,
)
from ..storage import atomic_write_text
from ..schema import types_of
from .taggers import Tagger

logger = logging.getLogger(__name__)


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
    the model saved in ``run/model`` on the held-out gold tokens, as ``--model`` is. ``script`` defaults to
    ``train.py`` in the working directory, else the one beside this package's source tree.
    """
    if script is None:
        candidates = [Path("train.py"), Path(__file__).resolve().parents[3] / "train.py"]
        script = next((c for c in candidates if c.is_file()), None)
        if script is None:
            raise FileNotFoundError("train.py not found (run from the repository root)")

    def train(fold: Fold) -> Tagger:
        fold.output_dir.mkdir(parents=True, exist_ok=True)
        splits = fold.output_dir / "splits.json"
        atomic_write_text(splits, json.dumps({"train": list(fold.train), "dev": [fold.dev], "test": [fold.test]}, indent=2) + "\n", overwrite=True)
        run_dir = fold.output_dir / "run"
        command = [sys.executable, str(script), "--config", str(config), "--overwrite",
                   "--set", f"data.splits={splits}", "--set", f"data.dir={data_dir}",
                   "--set", f"output_dir={run_dir}", *[a for o in overrides for a in ("--set", o)]]
        logger.info("fold %d: %s", fold.index, " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fold {fold.index} ({fold.test}): train.py failed:\n{done.stderr[-2000:]}")
        from ..tagger import NerTagger

        tagger = NerTagger.from_pretrained(run_dir / "model")
        return lambda sentences: [list(p.tags) for p in tagger.predict_tokens([s.tokens for s in sentences])]

    return train


def cross_validate(
    articles: dict[str, list[Sentence]],
    train_fold: Callable[[Fold], Tagger],
    output_dir: str | os.PathLike = "outputs/cv",
    mode: str = "strict",
) -> dict[str, Any]:
    """Leave-one-article-out cross-validation: train one model per held-out article and score it.

    ``train_fold(fold)`` trains on the fold's articles and returns a tagger; the held-out article is scored
    with :func:`vietner.metrics.entity_scores`. Returns per-fold rows and, per column, mean and sample standard deviation over the
    folds. A type absent from a held-out article has no F1 in that fold (``None``) and is averaged over the
    folds where it occurs; micro F1 is over all types.
    """
    scored = []
    for fold in folds(list(articles), output_dir):
        test = articles[fold.test]
        scored.append((fold, test, train_fold(fold)(test)))
    # The columns are the corpus's own types and whatever the models predicted, never a fixed list.
    types = types_of([tag for s in articles.values() for sentence in s for tag in sentence.tags]
                     + [tag for _, _, pred in scored for tags in pred for tag in tags])
    rows = [_fold_row(fold, test, pred, types, mode) for fold, test, pred in scored]
    columns = ["micro_f1", "precision", "recall"] + [f"{t}_f1" for t in types]
    summary = {}
    for column in columns:
        values = [r[column] for r in rows if r[column] is not None]
        summary[column] = {
            "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "folds": len(values),
        }
    return {"mode": mode, "types": types, "folds": rows, "summary": summary}


def _fold_row(fold: Fold, test: Sequence[Sentence], pred: Sequence[Sequence[str]], types: Sequence[str], mode: str) -> dict[str, Any]:
    """One fold's row: its micro scores and each type's F1 (None where the held-out article lacks the type)."""
    scores = entity_scores([s.tags for s in test], pred, mode)
    overall, per_type = scores["overall"], scores["per_type"]
    row: dict[str, Any] = {
        "fold": fold.index, "test": fold.test, "dev": fold.dev, "sentences": len(test),
        "entities": overall["support"], "micro_f1": overall["f1"],
        "precision": overall["precision"], "recall": overall["recall"],
    }
    for t in types:
        has = t in per_type and per_type[t]["support"] > 0
        row[f"{t}_f1"] = per_type[t]["f1"] if has else None
        row[f"{t}_support"] = per_type[t]["support"] if t in per_type else 0
    return row
