"""Fixtures shared by the whole suite: the synthetic corpora, train.py in-process, and the two tiny trained
models (softmax and CRF head), trained once per session for every test that reads a trained model."""

from __future__ import annotations

import os
import shutil

# `make test` runs one worker process per core (pytest -n auto): one thread each, in the workers and in the
# processes the tests start, or they fight over the cores (a tiny model's forward pass is then ten times slower).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock
from training_fixtures import corpus_with_long_sentences, load_train_module, run_train, tiny_args, write_corpus


@pytest.fixture
def train_main():
    """Call train.py's main() in this process, with accelerate's process-wide state reset around it."""
    module = load_train_module()
    return lambda args: run_train(module, args)


def shared(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """The folder ``name`` made once per test run by ``build(folder)``: by this process, or under a lock by
    the first of the worker processes of ``pytest -n``, the others reading it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # one per run, shared by its workers
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (root / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker whose build failed left: build again, fail alike
            folder.mkdir()
            build(folder)
            (root / f"{name}.done").touch()
    return folder


def splits(folder: Path) -> dict[str, Path]:
    """The train/dev/test files the corpus writers put in ``folder``."""
    return {split: folder / f"{split}.conll" for split in ("train", "dev", "test")}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """train/dev/test files of the synthetic corpus; train and dev hold one very long sentence each."""
    return splits(shared(tmp_path_factory, "corpus", write_corpus))


@pytest.fixture(scope="session")
def long_corpus(tmp_path_factory):
    """train/dev/test files whose dev and test each hold a sentence of several hundred syllables."""
    return splits(shared(tmp_path_factory, "long-corpus", corpus_with_long_sentences))


# max_length 64: the long sentences span several windows, so window cores and whole-sentence decoding count.
TRAINED_SETTINGS = ("train.epochs=4", "data.max_length=64", "data.window_overlap=16")


def _trained(tmp_path_factory, long_corpus, head: str):
    def train(folder: Path) -> None:
        old_umask = os.umask(0o022)  # what the output-directory test checks the permissions against
        try:
            args = tiny_args(long_corpus, folder / "run", f"model.head={head}", *TRAINED_SETTINGS)
            assert run_train(load_train_module(), args) == 0
        finally:
            os.umask(old_umask)

    return shared(tmp_path_factory, f"trained-{head}", train) / "run"


@pytest.fixture(scope="session")
def trained_softmax(tmp_path_factory, long_corpus):
    """The output directory of one train.py run (softmax head) on ``long_corpus``; read it, never write."""
    return _trained(tmp_path_factory, long_corpus, "softmax")


@pytest.fixture(scope="session")
def trained_crf(tmp_path_factory, long_corpus):
    """The output directory of one train.py run (CRF head) on ``long_corpus``; read it, never write."""
    return _trained(tmp_path_factory, long_corpus, "crf")
