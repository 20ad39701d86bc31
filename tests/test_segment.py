import pytest

from vietner.segment import (
    SyllableSegmenter,
    get_segmenter,
    join_word,
    split_at_entity_boundaries,
    syllable_tags,
    word_tags,
)
from vietner.text import tokens


@pytest.fixture(scope="module")
def underthesea():
    return get_segmenter("underthesea")


def test_underthesea_groups_syllables_into_words(underthesea):
    syllables = tokens("Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.")
    words = [join_word(syllables[a:b]) for a, b in underthesea.words(syllables)]
    assert "Hà_Nội" in words and "Bí_thư" in words
    assert "".join(w.replace("_", "") for w in words) == "".join(syllables)


def test_spans_cover_every_syllable_once(underthesea):
    syllables = tokens("Hoà Bình 20-22/11/2019 https://a.vn/x?y=1 😀 서울 Seoul, 2,34 tỷ USD")
    spans = underthesea.words(syllables)
    assert [i for a, b in spans for i in range(a, b)] == list(range(len(syllables)))


def test_numbers_and_punctuation_are_words_of_their_own(underthesea):
    syllables = tokens("Hoà Bình 20-22/11/2019")
    words = [join_word(syllables[a:b]) for a, b in underthesea.words(syllables)]
    assert "20-22/11/2019" in words


def test_nfd_input_maps_back(underthesea):
    import unicodedata

    syllables = tokens(unicodedata.normalize("NFD", "Thành phố Hà Nội"))
    spans = underthesea.words(syllables)
    assert [i for a, b in spans for i in range(a, b)] == list(range(len(syllables)))


def test_none_segmenter_keeps_syllables():
    assert SyllableSegmenter().words(["a", "b"]) == [(0, 1), (1, 2)]


def test_unknown_segmenter_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown segmenter 'nope'"):
        get_segmenter("nope")


def test_word_crossing_entity_boundary_is_split():
    # "tiếp bà Kang" glued into one word: the PER entity starts inside it.
    tags = ["O", "O", "B-PER", "I-PER"]  # tiếp bà Kang Kum-Sil
    spans = split_at_entity_boundaries([(0, 3), (3, 4)], tags)
    assert spans == [(0, 2), (2, 3), (3, 4)]
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_adjacent_entities_in_one_word_are_split():
    tags = ["B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG"]  # Hà Nội Đinh Dũng UBND
    spans = split_at_entity_boundaries([(0, 5)], tags)
    assert spans == [(0, 2), (2, 4), (4, 5)]
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_no_gold_entity_lost_on_real_segmentation(underthesea):
    syllables = tokens("Sáng 7/9, Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil tại Việt Nam.")
    tags = ["O"] * len(syllables)
    for start, end, label in [(1, 2, "DATE"), (5, 7, "ORG"), (7, 9, "LOC"), (9, 12, "PER"), (14, 16, "PER"), (17, 19, "LOC")]:
        tags[start] = "B-" + label
        for i in range(start + 1, end):
            tags[i] = "I-" + label
    spans = split_at_entity_boundaries(underthesea.words(syllables), tags)
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_underscore_inside_a_syllable_keeps_alignment(underthesea, caplog):
    syllables = ["bởi", "bngoc_022", "Hà", "Nội"]
    spans = underthesea.words(syllables)
    assert "does not align" not in caplog.text
    assert [join_word(syllables[a:b]) for a, b in spans][-1] == "Hà_Nội"
