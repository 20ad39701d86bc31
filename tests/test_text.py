"""Syllable tokenizer and sentence splitter: the rules the gold CoNLL files are built with."""

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vietner.schema import nfc
from vietner.text import normalize_tone_placement, split_sentences, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Punctuation at a syllable's edge is split off.
        ("Hà Nội, Việt Nam", ["Hà", "Nội", ",", "Việt", "Nam"]),
        ("Hà Nội:", ["Hà", "Nội", ":"]),
        ("bà Kang Kum-Sil.", ["bà", "Kang", "Kum-Sil", "."]),
        ("(TP HCM)", ["(", "TP", "HCM", ")"]),
        ("“Hà Nội”", ["“", "Hà", "Nội", "”"]),
        ('"Xin chào"', ['"', "Xin", "chào", '"']),
        ("USD).", ["USD", ")", "."]),
        # Numbers, dates, times and hyphenated names stay whole.
        ("Sáng 7/9, ông", ["Sáng", "7/9", ",", "ông"]),
        ("2,34 tỷ USD", ["2,34", "tỷ", "USD"]),
        ("95.000.000 đồng.", ["95.000.000", "đồng", "."]),
        ("lúc 14:15 ngày", ["lúc", "14:15", "ngày"]),
        ("20-22/11/2019", ["20-22/11/2019"]),
        ("07/09/2023.", ["07/09/2023", "."]),
        # A free-standing dash is a token of its own; a slash between words separates them.
        ("2021 - 2030", ["2021", "-", "2030"]),
        ("100.000 won/người", ["100.000", "won", "/", "người"]),
        # An ellipsis, as dots or as one character, is one token.
        ("chờ... rồi", ["chờ", "...", "rồi"]),
        ("đợi… rồi", ["đợi", "…", "rồi"]),
        # Zero-width characters separate like spaces.
        ("Hà\u200bNội", ["Hà", "Nội"]),
        ("", []),
        ("  \n ", []),
    ],
)
def test_tokens(text, expected):
    assert [span.text for span in tokenize(text)] == expected


def test_token_offsets_slice_the_input():
    text = "  Sáng 7/9, Bí thư Thành ủy (Hà Nội) tiếp bà Kang Kum-Sil… 95.000.000 đồng."
    spans = tokenize(text)
    assert [span.text for span in spans] == [span.text for span in tokenize(text)]
    for span in spans:
        assert text[span.start : span.end] == span.text
    # Offsets increase and never overlap.
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_tokens_reassemble_the_text_without_whitespace():
    text = "Sáng 7/9, tại TP. Hồ Chí Minh, ông nói: “Tăng 2,34 tỷ USD…”!"
    assert "".join(span.text for span in tokenize(text)) == "".join(text.split())


def test_tokenize_works_on_nfd_input_with_offsets_into_it():
    nfd = unicodedata.normalize("NFD", "Hà Nội, Việt Nam")
    spans = tokenize(nfd)
    assert [nfc(span.text) for span in spans] == ["Hà", "Nội", ",", "Việt", "Nam"]
    assert all(nfd[span.start : span.end] == span.text for span in spans)


def test_normalize_gives_nfc():
    assert nfc(unicodedata.normalize("NFD", "Nguyễn")) == "Nguyễn"
    assert len(nfc(unicodedata.normalize("NFD", "ễ"))) == 1


def _texts(text):
    return [span.text for span in split_sentences(text)]


def test_abbreviation_period_does_not_end_a_sentence():
    text = "Sáng 7/9, ông A tới TP. Hồ Chí Minh. Ông B ở lại."
    assert _texts(text) == ["Sáng 7/9, ông A tới TP. Hồ Chí Minh.", "Ông B ở lại."]


def test_sentence_ends_at_final_punctuation_before_a_capital_or_digit():
    assert _texts("Một. Hai! Ba? 2023 là năm… Bốn") == ["Một.", "Hai!", "Ba?", "2023 là năm…", "Bốn"]


def test_no_split_before_lowercase_or_inside_numbers():
    assert _texts("giá 2.5 triệu. tăng 1.000 đồng") == ["giá 2.5 triệu. tăng 1.000 đồng"]


def test_closing_quote_stays_with_its_sentence():
    assert _texts('Ông nói: "Tốt." Sau đó về.') == ['Ông nói: "Tốt."', "Sau đó về."]


def test_every_line_is_a_paragraph_and_blank_lines_are_dropped():
    assert _texts("Tiêu đề\n\n  Nội dung một.  \nHai") == ["Tiêu đề", "Nội dung một.", "Hai"]


def test_sentence_offsets_slice_the_input():
    text = "Tiêu đề\r\n\r\n\u00a0Sáng 7/9 tại TP. Hồ Chí Minh.   Ông B ở lại!\n"
    spans = split_sentences(text)
    assert [span.text for span in spans] == ["Tiêu đề", "Sáng 7/9 tại TP. Hồ Chí Minh.", "Ông B ở lại!"]
    for span in spans:
        assert text[span.start : span.end] == span.text


# ---- tone placement: PhoBERT's text writes "hoà", "khoẻ", "thuỷ" -----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # oa, oe, uy with no final consonant: the tone moves to the second vowel.
        ("hòa", "hoà"),
        ("khỏe", "khoẻ"),
        ("thủy", "thuỷ"),
        ("lũy", "luỹ"),
        ("tùy", "tuỳ"),
        ("họa", "hoạ"),
        ("Ủy", "Uỷ"),
        ("Hòa", "Hoà"),
        ("HÒA", "HOÀ"),
        ("ỦY", "UỶ"),
        ("KhỎe", "KhOẻ"),
        ("Ủy viên Bộ Chính trị, Bí thư Thành ủy", "Uỷ viên Bộ Chính trị, Bí thư Thành uỷ"),
        ("Thành_ủy Hòa_Bình", "Thành_uỷ Hoà_Bình"),
        ("(hòa),khỏe.", "(hoà),khoẻ."),
        # Everything else stays.
        ("hoàn", "hoàn"),
        ("quý", "quý"),
        ("Quỳ", "Quỳ"),
        ("của", "của"),
        ("mùa", "mùa"),
        ("thuế", "thuế"),
        ("hoà khoẻ thuỷ", "hoà khoẻ thuỷ"),
        ("hoa khoe huy", "hoa khoe huy"),
        ("Nguyễn tuyển khuya thuở", "Nguyễn tuyển khuya thuở"),
        ("2019 bngoc_022 Kum-Sil", "2019 bngoc_022 Kum-Sil"),
        ("", ""),
    ],
)
def test_normalize_tone_placement(text, expected):
    assert normalize_tone_placement(text) == expected
    # NFD input: the tone is a combining mark, moved as one, so the length still matches the input.
    decomposed = unicodedata.normalize("NFD", text)
    assert normalize_tone_placement(decomposed) == unicodedata.normalize("NFD", expected)
    assert len(normalize_tone_placement(decomposed)) == len(decomposed)


def test_normalize_tone_placement_keeps_offsets_in_mixed_forms():
    # A precomposed "ủ" gives a precomposed "ỷ"; a combining tone stays combining: same length either way.
    text = "Thành ủy " + unicodedata.normalize("NFD", "hòa") + " khỏe"
    assert len(normalize_tone_placement(text)) == len(text)
    assert nfc(normalize_tone_placement(text)) == "Thành uỷ hoà khoẻ"


# Vietnamese-like text: plain and toned vowels, combining tone marks, "q", separators.
_VIETNAMESE = st.text(
    st.sampled_from(
        list("oauyeqhtnOAUYEQ ,._-1") + list("òóỏõọàảỳýỷủùúụỦÒÈẻ") + list("\u0300\u0301\u0303\u0309\u0323")
    ),
    max_size=40,
)


@given(st.text(max_size=60))
def test_tone_placement_keeps_the_character_count_of_any_text(text):
    assert len(normalize_tone_placement(text)) == len(text)


@given(st.one_of(_VIETNAMESE, st.text(max_size=40)))
def test_tone_placement_is_idempotent(text):
    once = normalize_tone_placement(text)
    assert normalize_tone_placement(once) == once


@given(_VIETNAMESE)
def test_tone_placement_commutes_with_nfc(text):
    assert nfc(normalize_tone_placement(text)) == normalize_tone_placement(nfc(text))
    assert len(normalize_tone_placement(text)) == len(text)


# ---- The fast paths against the general rules they shortcut ------------------------------------------------

_PIECES = list("aHđ.,!?…/()“”\"'-–:1 \t\n\u00a0\u200b\u200e\u3000\x1f\x85\u2028") + ["Nội", "TP", "à\u0301"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@example("100.000 won/người và “Hà Nội”…", 3)
@given(_TEXT, st.integers(0, 9))
def test_tokenize_equals_the_general_chunk_split(text, offset):
    from vietner.text import TextSpan, _NON_SPACE, _split_chunk

    general = [span for m in _NON_SPACE.finditer(text) for span in _split_chunk(m.group(), m.start())]
    assert tokenize(text) == general
    assert tokenize(text, offset) == [TextSpan(s.text, s.start + offset, s.end + offset) for s in general]


@given(_TEXT)
def test_split_sentences_strips_exactly_the_separators(text):
    from vietner.text import TextSpan, _NON_SPACE, _sentence_ends

    general, offset = [], 0  # each piece bounded by its first and last run of non-separators
    for line in text.splitlines(keepends=True):
        start = 0
        for end in _sentence_ends(line) + [len(line)]:
            runs = list(_NON_SPACE.finditer(line[start:end]))
            if runs:
                s, e = offset + start + runs[0].start(), offset + start + runs[-1].end()
                general.append(TextSpan(text[s:e], s, e))
            start = end
        offset += len(line)
    assert split_sentences(text) == general


def test_bigram_sentences_walk_the_given_bigrams_from_start_to_end():
    from vietner.text import bigram_sentences

    given = [["Hà", "Nội", "mưa", "."], ["Trời", "mưa", "to", "."], []]
    bigrams = {pair for s in given for pair in zip([None, *s], [*s, None])}
    drawn = list(bigram_sentences(given, 300))
    assert 300 <= sum(map(len, drawn)) < 300 + 80
    assert all(pair in bigrams for s in drawn for pair in zip([None, *s], [*s, None]))
    assert {("Hà", "Nội", "mưa", "to", "."), ("Trời", "mưa", ".")} <= {tuple(s) for s in drawn}
    assert list(bigram_sentences([[]], 100)) == []  # nothing to walk: no sentence, and no endless loop
