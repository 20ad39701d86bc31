"""The fast PhoBERT tokenizer against PhobertTokenizer, the reference: id for id on every word of the corpus,
on hypothesis-generated text, with pairs, truncation, word_ids() and offsets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer, PhobertTokenizer, PreTrainedTokenizerFast

from vietner.corpus import read_conll
from vietner.modeling import learn_bpe
from vietner.tokenizer import (
    UnrepresentableVocabulary,
    WordEncoder,
    fast_phobert,
    main,
    save_fast,
    shared_symbols,
    vocabulary_size,
)

DATA = Path(__file__).parent.parent / "data" / "annotated"
FIXTURE = Path(__file__).parent / "fixtures" / "tokenizer"


def corpus_words() -> list[str]:
    """Every syllable of the corpus and every pair of neighbours joined as a segmenter joins a word."""
    words = []
    for path in sorted(DATA.glob("*.conll")):
        for sentence in read_conll(path):
            tokens = list(sentence.tokens)
            words += tokens + ["_".join(tokens[i : i + 2]) for i in range(len(tokens) - 1)]
    return words


WORDS = corpus_words()


def _write(directory: Path, codes: list[str], vocab: list[str]) -> PhobertTokenizer:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bpe.codes").write_text("".join(line + "\n" for line in codes), encoding="utf-8")
    (directory / "vocab.txt").write_text("".join(line + "\n" for line in vocab), encoding="utf-8")
    return PhobertTokenizer(str(directory / "vocab.txt"), str(directory / "bpe.codes"))


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A vocabulary learned from the corpus as train.py learns the scratch model's."""
    return _write(tmp_path_factory.mktemp("learned"), *learn_bpe(WORDS, 4000, 2))


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """The same merges with only the 1,500 most frequent pieces kept: merges make pieces the vocabulary lacks,
    which PhobertTokenizer turns into <unk> (PhoBERT's ``Trần_văn_thời`` -> ``Trần_@@ <unk> ời``)."""
    codes, vocab = learn_bpe(WORDS, 4000, 2)
    return _write(tmp_path_factory.mktemp("cut"), codes, vocab[:1500])


@pytest.fixture(scope="module")
def fast(learned):
    return fast_phobert(learned)


def slow_ids(slow: PhobertTokenizer, word: str) -> list[int]:
    """What vietner encoded a word as before: tokenize (``<pad>`` in a text is text) + convert_tokens_to_ids."""
    return slow.convert_tokens_to_ids(slow.tokenize(word, split_special_tokens=True))


def test_every_corpus_word_has_the_slow_ids(learned, fast):
    words = sorted(set(WORDS))
    reference = [slow_ids(learned, word) for word in words]
    assert [fast(word, add_special_tokens=False)["input_ids"] for word in words] == reference
    assert WordEncoder(learned)(words) == reference
    assert WordEncoder(fast)(words) == reference
    assert fast(" ".join(words))["input_ids"] == learned(" ".join(words))["input_ids"]


def test_pieces_the_vocabulary_lacks_are_unk_as_in_the_slow_tokenizer(cut):
    words = sorted(set(WORDS))
    reference = [slow_ids(cut, word) for word in words]
    # A merge result the vocabulary lacks between known pieces: the case of PhoBERT's issue 38.
    assert any(ids[0] != cut.unk_token_id and cut.unk_token_id in ids[1:] for ids in reference)
    assert WordEncoder(cut)(words) == reference
    encoder = WordEncoder(fast_phobert_or_none(cut) or cut)
    assert encoder(words) == reference


def fast_phobert_or_none(slow):
    try:
        return fast_phobert(slow)
    except UnrepresentableVocabulary:
        return None


def test_a_vocabulary_lacking_merge_results_gets_no_tokenizer_json(cut, tmp_path):
    assert shared_symbols({"a": 4, "b": 4, "c": 5, "d": 3, "e": 0}, {"<s>": 0, "<unk>": 3}) == ["a", "b", "d", "e"]
    with pytest.raises(UnrepresentableVocabulary, match="share an id"):
        fast_phobert(cut)
    cut.save_pretrained(str(tmp_path / "cut"))
    assert main(["convert", str(tmp_path / "cut"), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_hand_written_vocabulary_lacking_intermediate_pieces():
    slow = PhobertTokenizer(str(FIXTURE / "vocab.txt"), str(FIXTURE / "bpe.codes"))
    words = ["Hà_Nội", "tiếp", ",", "đến", "x", "Hà_Nội\n", "tiếpHà", "", "<pad>"]
    assert WordEncoder(slow)(words) == [slow_ids(slow, word) for word in words]


# Vietnamese syllables, joins, digits, punctuation, emoji, characters no vocabulary has, the special tokens'
# spellings and fastBPE's own markers, and Python-only whitespace (U+001C, U+0085) beside the usual kinds.
PARTS = st.one_of(
    st.sampled_from(sorted(set(WORDS))[:400]),
    st.sampled_from(["_", "__", "2023", "7/9", "1.000", ",", ".", "...", "(", ")", "\"", "-", "%", "@@", "@", "</w>", "<", ">"]),
    st.sampled_from(["😀", "🇻🇳", "中文", "\u200b", "\ufeff", "\x00", "\x1c", "\x85", "e\u0301", "ﬁ", "Ǆ"]),
    st.sampled_from(["<s>", "</s>", "<pad>", "<unk>", "<mask>", "<s", "unk>"]),
    st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", "\u2028", "\u3000", " \n "]),
    st.text(max_size=4),
)
TEXTS = st.lists(PARTS, max_size=12).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, pair=TEXTS)
def test_generated_text_has_the_slow_ids(learned, fast, text, pair):
    assert fast(text)["input_ids"] == learned(text)["input_ids"]
    # transformers' fast wrapper drops an empty second text (``if text_pair``); the tokenizer itself does not.
    paired = fast(text, pair)["input_ids"] if pair else fast.backend_tokenizer.encode(text, pair).ids
    assert paired == learned(text, pair)["input_ids"]
    assert fast(text, split_special_tokens=True)["input_ids"] == learned(text, split_special_tokens=True)["input_ids"]
    assert fast(text, truncation=True, max_length=7)["input_ids"] == learned(text, truncation=True, max_length=7)["input_ids"]
    if pair:
        for strategy in ("longest_first", "only_first", "only_second"):
            options = {"truncation": strategy, "max_length": 12}
            lengths = {"only_first": len(learned.tokenize(text)), "only_second": len(learned.tokenize(pair))}
            excess = len(learned(text, pair)["input_ids"]) - 12
            if strategy in lengths and excess > 0 and lengths[strategy] <= excess:
                # Cutting would empty the named text: tokenizers refuses (the slow one empties it or keeps all).
                with pytest.raises(Exception, match="too short"):
                    fast(text, pair, **options)
            else:
                assert fast(text, pair, **options)["input_ids"] == learned(text, pair, **options)["input_ids"], strategy
    words = text.split()
    assert WordEncoder(fast)(words) == [slow_ids(learned, word) for word in words]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_generated_text_with_missing_pieces_has_the_slow_ids(cut, text):
    words = text.split() + [text]
    assert WordEncoder(cut)(words) == [slow_ids(cut, word) for word in words]


def test_empty_and_whitespace_only_input(learned, fast):
    for text in ["", " ", "\n\n", "\t \u00a0 \u2028", "\x1c\x85"]:
        assert fast(text)["input_ids"] == learned(text)["input_ids"] == [0, 2], repr(text)
    assert WordEncoder(fast)(["", " "]) == [[], []]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(sorted(set(WORDS))), min_size=1, max_size=30))
def test_word_ids_and_offsets_follow_the_words(learned, fast, words):
    encoding = fast(words, is_split_into_words=True, return_offsets_mapping=True)
    assert encoding["input_ids"] == learned(words, is_split_into_words=True)["input_ids"]
    word_ids = encoding.word_ids()
    assert word_ids[0] is None and word_ids[-1] is None
    assert [w for w in word_ids[1:-1]] == [i for i, word in enumerate(words) for _ in slow_ids(learned, word)]
    # Each word's subwords cover its characters, in order, without gaps.
    for i, word in enumerate(words):
        spans = [span for w, span in zip(word_ids, encoding["offset_mapping"]) if w == i]
        assert spans[0][0] == 0 and spans[-1][1] == len(word)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    text = " ".join(words)
    encoding = fast(text, return_offsets_mapping=True)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    firsts = [encoding["offset_mapping"][k][0] for k, w in enumerate(encoding.word_ids()) if w is not None and (k == 1 or encoding.word_ids()[k - 1] != w)]
    assert firsts == starts


def test_special_tokens_and_sizes(learned, fast):
    assert [fast.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, len(learned) - 1]
    assert (fast.bos_token_id, fast.pad_token_id, fast.eos_token_id, fast.unk_token_id, fast.mask_token_id) == (0, 1, 2, 3, learned.mask_token_id)
    assert vocabulary_size(fast) == vocabulary_size(learned) == len(learned)
    batch = fast(["Hà_Nội", "tiếp đến Hà_Nội"], padding=True)
    assert batch["input_ids"] == learned(["Hà_Nội", "tiếp đến Hà_Nội"], padding=True)["input_ids"]


def test_saved_directory_loads_fast_with_auto_tokenizer(learned, tmp_path):
    save_fast(learned, tmp_path)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    assert isinstance(loaded, PreTrainedTokenizerFast) and loaded.is_fast
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    text = " ".join(sorted(set(WORDS))[:300])
    assert loaded(text)["input_ids"] == learned(text)["input_ids"]
    assert PhobertTokenizer.from_pretrained(str(tmp_path))(text)["input_ids"] == learned(text)["input_ids"]


def test_convert_command(learned, tmp_path, capsys):
    learned.save_pretrained(str(tmp_path / "phobert"))
    assert main(["convert", str(tmp_path / "phobert"), str(tmp_path / "out")]) == 0
    assert AutoTokenizer.from_pretrained(str(tmp_path / "out")).is_fast
    assert main(["convert", str(tmp_path / "phobert"), str(tmp_path / "out")]) == 2  # never overwritten unasked
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(line.startswith("error: ") for line in errors)


def test_convert_reads_a_hub_id_from_the_local_cache_offline(learned, tmp_path):
    # The Hugging Face cache's layout: models--OWNER--NAME/refs/main names a snapshot holding the files.
    repo = tmp_path / "hub" / "models--vinai--phobert-base"
    snapshot = repo / "snapshots" / ("0" * 40)
    learned.save_pretrained(str(snapshot))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "vietner.tokenizer", "convert", "vinai/phobert-base", str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "out"))
    text = " ".join(sorted(set(WORDS))[:200])
    assert loaded.is_fast and loaded(text)["input_ids"] == learned(text)["input_ids"]
