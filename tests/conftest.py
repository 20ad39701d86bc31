"""Fixtures shared by the whole suite: the synthetic corpora, train.py in-process, and the two tiny trained
models (softmax and CRF head), trained once per session for every test that reads a trained model."""

from __future__ import annotations

import os

import pytest
from training_fixtures import corpus_with_long_sentences, load_train_module, run_train, tiny_args, write_corpus


@pytest.fixture
def train_main():
    """Call train.py's main() in this process, with accelerate's process-wide state reset around it."""
    module = load_train_module()
    return lambda args: run_train(module, args)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """train/dev/test files of the synthetic corpus; train and dev hold one very long sentence each."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def long_corpus(tmp_path_factory):
    """train/dev/test files whose dev and test each hold a sentence of several hundred syllables."""
    return corpus_with_long_sentences(tmp_path_factory.mktemp("long-corpus"))


# max_length 64: the long sentences span several windows, so window cores and whole-sentence decoding count.
TRAINED_SETTINGS = ("train.epochs=4", "data.max_length=64", "data.window_overlap=16")


def _trained(tmp_path_factory, long_corpus, head: str):
    out = tmp_path_factory.mktemp(f"trained-{head}") / "run"
    old_umask = os.umask(0o022)  # what the output-directory test checks the permissions against
    try:
        assert run_train(load_train_module(), tiny_args(long_corpus, out, f"model.head={head}", *TRAINED_SETTINGS)) == 0
    finally:
        os.umask(old_umask)
    return out


@pytest.fixture(scope="session")
def trained_softmax(tmp_path_factory, long_corpus):
    """The output directory of one train.py run (softmax head) on ``long_corpus``; read it, never write."""
    return _trained(tmp_path_factory, long_corpus, "softmax")


@pytest.fixture(scope="session")
def trained_crf(tmp_path_factory, long_corpus):
    """The output directory of one train.py run (CRF head) on ``long_corpus``; read it, never write."""
    return _trained(tmp_path_factory, long_corpus, "crf")
