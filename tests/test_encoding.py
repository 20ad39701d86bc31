import random
from pathlib import Path

import pytest
from transformers import PhobertTokenizer

from vietner.encoding import IGNORE_INDEX, Window, WordPieces, encode_window, windows

FIXTURE = Path(__file__).parent / "fixtures" / "tokenizer"


@pytest.fixture(scope="module")
def tokenizer():
    # A hand-written fastBPE vocabulary: ids 0-3 are <s> <pad> </s> <unk>, then vocab.txt in order, so
    # Hà_Nội=4, t@@=5, i@@=6, ế@@=7, p=8, đến=9, ","=10.
    return PhobertTokenizer(str(FIXTURE / "vocab.txt"), str(FIXTURE / "bpe.codes"))


def test_word_pieces_tokenizes_each_word_alone(tokenizer):
    assert WordPieces(tokenizer)(["Hà_Nội", "tiếp", ",", "đến"]) == [[4], [5, 6, 7, 8], [10], [9]]


def test_unknown_word_gets_unk(tokenizer):
    pieces = WordPieces(tokenizer)(["x"])
    assert pieces == [[tokenizer.unk_token_id]]


def test_long_word_is_capped(tokenizer):
    assert len(WordPieces(tokenizer, max_pieces_per_word=3)(["tiếptiếptiếp"])[0]) == 3


def test_first_subword_carries_label_rest_ignored(tokenizer):
    pieces = WordPieces(tokenizer)(["Hà_Nội", "tiếp", "đến"])
    encoded = encode_window(pieces, Window(0, 3, 0, 3), tokenizer.bos_token_id, tokenizer.eos_token_id, labels=[1, 0, 2])
    assert encoded["input_ids"] == [0, 4, 5, 6, 7, 8, 9, 2]
    assert encoded["labels"] == [IGNORE_INDEX, 1, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 2, IGNORE_INDEX]
    assert encoded["word_starts"] == [1, 2, 6]


def test_labels_outside_core_are_ignored(tokenizer):
    pieces = WordPieces(tokenizer)(["Hà_Nội", "tiếp", "đến"])
    encoded = encode_window(pieces, Window(0, 3, 1, 2), 0, 2, labels=[1, 0, 2])
    assert encoded["labels"] == [IGNORE_INDEX, IGNORE_INDEX, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert encoded["word_starts"] == [2]


def test_windows_without_overlap_pack_greedily():
    assert windows([1, 3, 1, 2, 1, 1, 4, 1], 5) == [Window(0, 3, 0, 3), Window(3, 6, 3, 6), Window(6, 8, 6, 8)]


def test_windows_properties_random():
    rng = random.Random(0)
    for _ in range(500):
        counts = [rng.randint(1, 6) for _ in range(rng.randint(0, 80))]
        limit = rng.randint(6, 30)
        overlap = rng.randint(0, limit)
        result = windows(counts, limit, overlap)
        cores = [i for w in result for i in range(w.core_start, w.core_end)]
        assert cores == list(range(len(counts)))  # every word read exactly once
        for w in result:
            assert sum(counts[w.start : w.end]) <= limit
        assert all(b.end > a.end for a, b in zip(result, result[1:]))


def test_word_longer_than_window_is_an_error():
    with pytest.raises(ValueError, match="more than 4 subwords"):
        windows([2, 5], 4)


def test_600_word_sentence_fits_phobert_limit(tokenizer):
    words = ["Hà_Nội", "tiếp", "đến", ","] * 150
    labels = [1, 0, 0, 0] * 150
    pieces = WordPieces(tokenizer)(words)
    result = windows([len(p) for p in pieces], 256 - 2, overlap=64)
    assert len(result) > 1
    seen_labels = []
    for w in result:
        encoded = encode_window(pieces, w, 0, 2, labels=labels)
        assert len(encoded["input_ids"]) <= 256
        assert encoded["input_ids"][0] == 0 and encoded["input_ids"][-1] == 2
        seen_labels.extend(label for label in encoded["labels"] if label != IGNORE_INDEX)
    # Nothing truncated, nothing duplicated: every word's label appears exactly once, in order.
    assert seen_labels == labels
