"""Syllable tokenizer and sentence splitter: the rules the gold CoNLL files are built with."""

import unicodedata

import pytest

from vietner.text import normalize, split_sentences, tokenize, tokens


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
    assert tokens(text) == expected


def test_token_offsets_slice_the_input():
    text = "  Sáng 7/9, Bí thư Thành ủy (Hà Nội) tiếp bà Kang Kum-Sil… 95.000.000 đồng."
    spans = tokenize(text)
    assert [span.text for span in spans] == tokens(text)
    for span in spans:
        assert text[span.start : span.end] == span.text
    # Offsets increase and never overlap.
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_tokens_reassemble_the_text_without_whitespace():
    text = "Sáng 7/9, tại TP. Hồ Chí Minh, ông nói: “Tăng 2,34 tỷ USD…”!"
    assert "".join(tokens(text)) == "".join(text.split())


def test_tokenize_works_on_nfd_input_with_offsets_into_it():
    nfd = unicodedata.normalize("NFD", "Hà Nội, Việt Nam")
    spans = tokenize(nfd)
    assert [normalize(span.text) for span in spans] == ["Hà", "Nội", ",", "Việt", "Nam"]
    assert all(nfd[span.start : span.end] == span.text for span in spans)


def test_normalize_gives_nfc():
    assert normalize(unicodedata.normalize("NFD", "Nguyễn")) == "Nguyễn"
    assert len(normalize(unicodedata.normalize("NFD", "ễ"))) == 1


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
