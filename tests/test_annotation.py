"""Inline-markup drafts: drafting from raw text, importing marked-up drafts, exporting gold for review."""

import pytest

from vietner.annotation import MarkupError, draft_markup, parse_markup, sentences_to_markup
from vietner.corpus import read_conll, write_conll

RAW = (
    "Hà Nội và Gyeonggi hợp tác\n"
    "Sáng 7/9, Bí thư Thành ủy Đinh Tiến Dũng tiếp bà Kang Kum-Sil. Hai bên bàn về 2,34 tỷ USD.\n"
    "Xem thêm\n"
)
MARKUP = (
    "# sent_id = a-1\n"
    "[LOC Hà Nội] và [LOC Gyeonggi] hợp tác\n"
    "\n"
    "# sent_id = a-2\n"
    "Sáng [DATE 7/9], Bí thư [ORG Thành ủy] [PER Đinh Tiến Dũng] tiếp bà [PER Kang Kum-Sil].\n"
    "\n"
    "# sent_id = a-3\n"
    "Hai bên bàn về [MONEY 2,34 tỷ USD].\n"
)


def test_draft_has_one_block_per_sentence_and_skips_repeats():
    seen: set[str] = set()
    first = draft_markup(RAW, "a", seen)
    assert first.split("\n\n")[1] == "# sent_id = a-2\nSáng 7/9, Bí thư Thành ủy Đinh Tiến Dũng tiếp bà Kang Kum-Sil."
    assert first.count("# sent_id") == 4
    # The same headline in a second article is drafted only once, in the first.
    second = draft_markup("Hà Nội và Gyeonggi hợp tác\nMột câu mới.\n", "b", seen)
    assert second == "# sent_id = b-2\nMột câu mới.\n"


def test_import_gives_iob2_tags_per_syllable():
    sentences = parse_markup(MARKUP, RAW, "a")
    assert [s.sent_id for s in sentences] == ["a-1", "a-2", "a-3"]
    second = sentences[1]
    assert second.text == "Sáng 7/9, Bí thư Thành ủy Đinh Tiến Dũng tiếp bà Kang Kum-Sil."
    assert list(zip(second.tokens, second.tags)) == [
        ("Sáng", "O"), ("7/9", "B-DATE"), (",", "O"), ("Bí", "O"), ("thư", "O"),
        ("Thành", "B-ORG"), ("ủy", "I-ORG"), ("Đinh", "B-PER"), ("Tiến", "I-PER"), ("Dũng", "I-PER"),
        ("tiếp", "O"), ("bà", "O"), ("Kang", "B-PER"), ("Kum-Sil", "I-PER"), (".", "O"),
    ]
    assert sentences[2].tags == ("O", "O", "O", "O", "B-MONEY", "I-MONEY", "I-MONEY", "O")


def test_markup_round_trip_through_conll(tmp_path):
    sentences = parse_markup(MARKUP, RAW, "a")
    write_conll(sentences, tmp_path / "a.conll")
    back = read_conll(tmp_path / "a.conll")
    assert back == sentences
    assert sentences_to_markup(back) == MARKUP


def test_adjacent_entities_of_one_type_stay_apart():
    raw = "Hàn Quốc Việt Nam"
    [sentence] = parse_markup("[LOC Hàn Quốc] [LOC Việt Nam]\n", raw, "x")
    assert sentence.tags == ("B-LOC", "I-LOC", "B-LOC", "I-LOC")
    assert sentences_to_markup([sentence]) == "# sent_id = x-1\n[LOC Hàn Quốc] [LOC Việt Nam]\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # An entity must start and end on a token boundary.
        ("[LOC Hà Nộ]i và Gyeonggi hợp tác", r"draft\.txt:3: entity 'Hà Nộ' \(LOC\) does not start and end on token"),
        ("Hà Nội và [LOC Gyeong]gi hợp tác", r"draft\.txt:3: entity 'Gyeong' \(LOC\)"),
        ("Hai bên bàn về [MONEY 2,34 tỷ US]D.", r"draft\.txt:3: entity '2,34 tỷ US' \(MONEY\)"),
        ("Sáng 7/9, Bí thư Thành ủy Đinh Tiến Dũng tiếp bà [PER Kang Kum]-Sil.", r"draft\.txt:3: entity 'Kang Kum'"),
        # Nested or unknown markup is malformed.
        ("[ORG Hà [LOC Nội]] và Gyeonggi hợp tác", r"draft\.txt:3: malformed entity markup"),
        # A sentence changed while annotating no longer matches the raw article.
        ("[LOC Hà Nội] và [LOC Gyeonggi] hợp tác tốt", r"draft\.txt:3: sentence is not a sentence of the raw"),
    ],
)
def test_import_errors_name_file_and_line(line, message):
    markup = f"# sent_id = a-1\n\n{line}\n"
    with pytest.raises(MarkupError, match=message):
        parse_markup(markup, RAW, "a", "draft.txt")
