"""Inline-markup drafts: drafting from raw text, importing marked-up drafts, exporting gold for review."""

import pytest

from vietner.annotation import MarkupError, draft_markup, parse_markup, sentences_to_markup
from vietner.corpus import read_conll, write_conll
from vietner.spans import Entity

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


# ------------------------------------------------------------------ model-assisted drafts

MODEL_RAW = "Kang Kum-Sil đến Seoul và Hà Nội. Thành ủy tiếp ông An tại Seoul.\n"
# The annotator's corrections of the lookup model's draft: one entity re-bounded and retyped, one kept, one
# removed in the first sentence; two added and one relabelled in the second.
CORRECTED = (
    "# sent_id = a1-1\n"
    "[PER Kang Kum-Sil] đến [LOC Seoul] và Hà Nội.\n"
    "\n"
    "# sent_id = a1-2\n"
    "[ORG Thành ủy] tiếp ông [PER An] tại [ORG Seoul].\n"
)


@pytest.fixture
def lookup_model_dir(tmp_path):
    """A model whose entities are known in advance: Seoul, Hà_Nội and Kang are LOC, nothing else."""
    from tagger_fixtures import lookup_model, save_model_dir, write_tokenizer

    tokenizer = write_tokenizer(["Seoul", "Hà_Nội", "Kang", "Kum-Sil", "đến", "và", ".", "tiếp", "ông", "An"], tmp_path / "tok")
    model = lookup_model(tokenizer, {"Seoul": "B-LOC", "Hà_Nội": "B-LOC", "Kang": "B-LOC"}, max_length=32)
    return save_model_dir(tmp_path / "model", model, tokenizer, segmenter="underthesea", max_length=32, overlap=8)


def test_model_draft_is_pre_annotated_and_import_reports_the_corrections(lookup_model_dir, tmp_path, capsys):
    from vietner.cli.data import main

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a1.txt").write_text(MODEL_RAW, encoding="utf-8")
    drafts = tmp_path / "drafts"
    assert main(["draft", str(raw), str(drafts), "--model", str(lookup_model_dir)]) == 0
    expected = "[LOC Kang] Kum-Sil đến [LOC Seoul] và [LOC Hà Nội].\n"
    draft = drafts / "a1.txt"
    assert draft.read_text(encoding="utf-8").split("\n", 1)[1].startswith(expected)
    assert (drafts / "a1.pre.txt").read_text(encoding="utf-8") == draft.read_text(encoding="utf-8")
    # Without corrections, import takes the model's markup as it is, and reports nothing changed.
    capsys.readouterr()
    assert main(["import", str(draft), str(raw / "a1.txt"), str(tmp_path / "as-drafted.conll")]) == 0
    assert "4 kept, 0 added, 0 removed, 0 relabelled, 0 re-bounded" in capsys.readouterr().out
    draft.write_text(CORRECTED, encoding="utf-8")
    assert main(["import", str(draft), str(raw / "a1.txt"), str(tmp_path / "a1.conll")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{draft}: against the pre-annotation (2 sentences): 1 kept, 2 added, 1 removed, 1 relabelled, 1 re-bounded"
    assert lines[1:] == [
        f"{draft}:2: re-bounded [LOC Kang] -> [PER Kang Kum-Sil]",
        f"{draft}:2: removed [LOC Hà Nội]",
        f"{draft}:5: added [ORG Thành ủy]",
        f"{draft}:5: added [PER An]",
        f"{draft}:5: relabelled [LOC Seoul] -> [ORG Seoul]",
    ]
    first, second = read_conll(tmp_path / "a1.conll")
    assert first.tags == ("B-PER", "I-PER", "O", "B-LOC", "O", "O", "O", "O")
    assert second.tags == ("B-ORG", "I-ORG", "O", "O", "B-PER", "O", "B-ORG", "O")


def test_a_models_draft_marks_what_predict_finds_in_the_text(lookup_model_dir):
    """Drafts tag token sentences with NerTagger.predict_tokens; the entities are the raw-text path's."""
    import unicodedata

    from vietner import NerTagger
    from vietner.cli.data import _model_tagger

    texts = [
        "Kang Kum-Sil đến Seoul và Hà Nội. Thành ủy tiếp ông An tại Seoul.",
        unicodedata.normalize("NFD", "ông An đến  Hà\u00a0Nội"),
        "Seoul",
        "",
    ]
    drafted = _model_tagger(str(lookup_model_dir))(texts)
    assert drafted == NerTagger.from_pretrained(lookup_model_dir).predict(texts)
    assert [e.text for e in drafted[1]] == [unicodedata.normalize("NFD", "Hà\u00a0Nội")]


def test_draft_without_a_model_is_unmarked_and_keeps_no_pre_annotation(tmp_path, capsys):
    from vietner.cli.data import main

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a1.txt").write_text(MODEL_RAW, encoding="utf-8")
    assert main(["draft", str(raw), str(tmp_path / "drafts")]) == 0
    assert sorted(p.name for p in (tmp_path / "drafts").iterdir()) == ["a1.txt"]
    assert "[" not in (tmp_path / "drafts" / "a1.txt").read_text(encoding="utf-8")
    assert main(["import", str(tmp_path / "drafts" / "a1.txt"), str(raw / "a1.txt"), str(tmp_path / "a1.conll")]) == 0
    assert "pre-annotation" not in capsys.readouterr().out


def test_a_sentence_the_annotator_deleted_is_not_compared():
    from vietner.annotation import compare_markup, read_markup

    pre = read_markup("[LOC Seoul] và Hà Nội.\n[PER An] đến.\n")
    final = read_markup("Seoul và [LOC Hà Nội].\n")
    changes = compare_markup(pre, final)
    assert [(c.kind, c.before, c.after) for c in changes] == [
        ("removed", Entity(0, 5, "LOC", "Seoul"), None),
        ("added", None, Entity(9, 15, "LOC", "Hà Nội")),
    ]
