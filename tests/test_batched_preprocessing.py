"""The batched preprocessing path (``Preprocessor.prepare_many``/``words_many``: many sentences per segmenter
call, one tokenizer call, per-syllable caches, windows by C-level joins) against the reference per-sentence
path (``Preprocessor.prepare``, the slow ``PhobertTokenizer`` word by word), sentence by sentence: the same
words, pieces and windows, for underthesea and rdrsegmenter, on the corpus and on generated text."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vietner.corpus import read_conll
from vietner.encoding import Preprocessor, WordPieces
from vietner.settings import Preprocessing
from vietner.segment import get_segmenter

ROOT = Path(__file__).parent.parent
CORPUS = sorted((ROOT / "data" / "annotated").glob("*.conll"))
# Short windows, so that long sentences take several (the batched path's other branch).
SETTINGS = dict(max_length=24, window_overlap=6, max_pieces_per_word=8)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A small learned vocabulary: most words split into several pieces; other scripts are <unk>."""
    from vietner.config import ScratchConfig
    from vietner.modeling import scratch_tokenizer

    words = [s for path in CORPUS for sentence in read_conll(path) for s in sentence.tokens]
    return scratch_tokenizer(words, tmp_path_factory.mktemp("tok"), ScratchConfig(bpe_vocab_size=800, bpe_min_frequency=2))


@pytest.fixture(scope="module", params=["underthesea", "rdrsegmenter"])
def segmenter(request):
    if request.param == "rdrsegmenter" and shutil.which("java") is None:
        pytest.skip("Java runtime not found (apt-get install default-jre-headless): rdrsegmenter cannot run here")
    return get_segmenter(request.param)


def _reference(tokenizer, segmenter, **overrides):
    """The per-sentence path with the slow tokenizer asked word by word (no batch encoder)."""
    preprocessor = Preprocessor(tokenizer, Preprocessing(segmenter.name, **{**SETTINGS, **overrides}), segmenter)
    preprocessor.pieces = WordPieces(tokenizer, SETTINGS["max_pieces_per_word"], batch=False)
    return preprocessor


def _compare(tokenizer, segmenter, sentences, words_cache=0, **overrides):
    """Assert that ``prepare_many``/``words_many`` of a fresh preprocessor equal the reference's ``prepare``
    and ``words``, sentence by sentence; return both preprocessors and the batched output."""
    reference = _reference(tokenizer, segmenter, **overrides)
    batched = Preprocessor(tokenizer, Preprocessing(segmenter.name, **{**SETTINGS, **overrides}), segmenter, words_cache=words_cache)
    expected = [reference.prepare(s) for s in sentences]
    got = batched.prepare_many(sentences)
    assert len(got) == len(expected)
    for index, (ours, theirs) in enumerate(zip(got, expected)):
        assert ours == theirs, (index, sentences[index])
    assert batched.words_many(sentences) == [reference.words(s) for s in sentences]
    return reference, batched, got


def test_batched_equals_reference_on_the_corpus(tokenizer, segmenter):
    corpus = [s for path in CORPUS for s in read_conll(path)]
    sentences = [list(s.tokens) for s in corpus]
    reference, batched, got = _compare(tokenizer, segmenter, sentences, words_cache=len(corpus))
    assert sum(len(e.windows) > 1 for e in got) > 50  # the several-window branch is exercised
    # Training's words: split at the gold entity boundaries (the segmentation itself is cached by now).
    golds = [list(s.tags) for s in corpus]
    assert batched.words_many(sentences, golds) == [reference.words(t, g) for t, g in zip(sentences, golds)]


SYLLABLES = [
    "Hà", "Nội", "hòa", "hoà", "Thành", "ủy", "uỷ", "Thủy", "quỳ", "khỏe", "Kum-Sil", "2,34", "7/9", "20-22/11/2019",
    ",", ".", "(", ")", "…", "bngoc_022", "_", "Ủy", "viên", "Bộ", "Chính", "trị", "https://a.vn/x-y", "😀", "中文",
    "<pad>", "<s>", "ó", "a\u0300", "Ho\u0300a", "ba\u0301o", "x\ny", "a b", "\u200b", "",
]
syllable = st.one_of(st.sampled_from(SYLLABLES), st.text(alphabet="aăâbđeêoôơuưyAĐ\u0300\u0301\u0303\u0309\u0323_-.", min_size=1, max_size=6))
sentences = st.lists(st.lists(syllable, max_size=30), min_size=1, max_size=8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=sentences, normalize_tones=st.booleans())
def test_batched_equals_reference_on_generated_text(tokenizer, segmenter, batch, normalize_tones):
    _compare(tokenizer, segmenter, batch, normalize_tones=normalize_tones)


def test_nfd_and_nfc_sentences_in_one_batch(tokenizer, segmenter):
    text = "Bí thư Thành ủy Hà Nội tiếp Ủy viên Bộ Chính trị về hòa bình".split()
    nfd = [unicodedata.normalize("NFD", s) for s in text]
    _, _, got = _compare(tokenizer, segmenter, [text, nfd, text[:3], [], nfd])
    assert got[0] == got[1] and got[3].windows == ()


def test_warm_up_fills_no_cache(tokenizer, segmenter, monkeypatch):
    monkeypatch.setattr("vietner.segment.JVM_WARM_UP_SYLLABLES", 1)
    preprocessor = Preprocessor(tokenizer, Preprocessing(segmenter.name, **SETTINGS), segmenter)
    preprocessor.warm_up()
    assert preprocessor._words == preprocessor._nfcs == preprocessor._forms == preprocessor.pieces._cache == {}
