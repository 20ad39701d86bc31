"""The module layout: old module paths kept for one release are the moved modules themselves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

ALIASES = {
    "vietner.prediction": "vietner.predictor",
    "vietner.inference": "vietner.tagger",
    "vietner.pipeline": "vietner.streaming",
    "vietner.predict": "vietner.cli.predict",
    "vietner.data": "vietner.cli.data",
    "vietner.documents": "vietner.cli.formats",
    "vietner.card": "vietner.data_card",
    "vietner.evaluation.cli": "vietner.cli.evaluate",
}


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_an_old_module_path_is_the_moved_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_moved_names_still_import_from_their_old_homes() -> None:
    from vietner import NerTagger, tagger
    from vietner.evaluation import main as evaluation_main
    from vietner.training import RunState, dictionary_baseline_f1, load_splits, train_loader

    from vietner.checkpoints import RunState as moved_state
    from vietner.cli.evaluate import main
    from vietner.evaluation.taggers import dictionary_baseline_f1 as moved_baseline

    assert NerTagger is tagger.NerTagger and evaluation_main is main
    assert RunState is moved_state and dictionary_baseline_f1 is moved_baseline
    assert load_splits.__module__ == "vietner.sources" and train_loader.__module__ == "vietner.batching"


@pytest.mark.parametrize("module", ["vietner.data", "vietner.cli.data"])
def test_the_data_command_line_runs_under_its_old_and_new_names(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "validate" in done.stdout
