"""The gold-corpus validator: each class of error it claims to catch, reported as file:line, all of them."""

from pathlib import Path

import pytest

from vietner.cli.data import main
from vietner.validate import validate_corpus, validate_splits

REPO = Path(__file__).resolve().parents[1]

RAW_A = "Hà Nội đón bà Kang Kum-Sil.\nXem thêm\nHai bên bàn về 2,34 tỷ USD vào ngày 7/9.\n"
# Line numbers matter below: a-1 has its text on line 2 and tokens on 3-9; a-2 has text on 12, tokens 13-23.
CONLL_A = """\
# sent_id = a-1
# text = Hà Nội đón bà Kang Kum-Sil.
Hà\tB-LOC
Nội\tI-LOC
đón\tO
bà\tO
Kang\tB-PER
Kum-Sil\tI-PER
.\tO

# sent_id = a-2
# text = Hai bên bàn về 2,34 tỷ USD vào ngày 7/9.
Hai\tO
bên\tO
bàn\tO
về\tO
2,34\tB-MONEY
tỷ\tI-MONEY
USD\tI-MONEY
vào\tO
ngày\tB-DATE
7/9\tI-DATE
.\tO
"""
RAW_B = "Thành ủy Hà Nội họp.\n"
CONLL_B = """\
# sent_id = b-1
# text = Thành ủy Hà Nội họp.
Thành\tB-ORG
ủy\tI-ORG
Hà\tI-ORG
Nội\tI-ORG
họp\tO
.\tO
"""


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A small valid corpus in tmp_path/{raw,annotated}; the working directory is tmp_path."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "annotated").mkdir()
    for name, text in {"raw/a.txt": RAW_A, "raw/b.txt": RAW_B, "annotated/a.conll": CONLL_A, "annotated/b.conll": CONLL_B}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems() -> list[str]:
    return [str(problem) for problem in validate_corpus("annotated")]


def test_valid_corpus_has_no_problems(corpus):
    assert problems() == []


def test_broken_iob2(corpus):
    edit(corpus / "annotated/a.conll", "Nội\tI-LOC", "Nội\tI-ORG")
    edit(corpus / "annotated/b.conll", "Thành\tB-ORG", "Thành\tO")
    assert problems() == [
        "annotated/a.conll:4: I-ORG follows B-LOC, not B-ORG or I-ORG (broken IOB2)",
        "annotated/b.conll:4: I-ORG follows O, not B-ORG or I-ORG (broken IOB2)",
    ]


def test_token_that_does_not_reassemble(corpus):
    edit(corpus / "annotated/a.conll", "Nội\tI-LOC", "Noi\tI-LOC")
    assert problems() == ["annotated/a.conll:4: token 'Noi' does not match the text here ('Nội')"]


def test_tokens_that_stop_before_the_text_ends(corpus):
    edit(corpus / "annotated/b.conll", "họp\tO\n.\tO\n", "họp\tO\n")
    assert problems() == ["annotated/b.conll:7: tokens end before the text does: missing '.'"]


def test_tokens_that_reassemble_but_are_not_the_tokenizer_s(corpus):
    # "Kum-Sil." as one token reassembles the text, but the tokenizer splits the period off.
    edit(corpus / "annotated/a.conll", "Kum-Sil\tI-PER\n.\tO\n", "Kum-Sil.\tI-PER\n")
    assert problems() == ["annotated/a.conll:8: token 'Kum-Sil.' should be 'Kum-Sil' (as vietner.text.tokenize splits the text)"]


def test_unknown_and_malformed_labels(corpus):
    edit(corpus / "annotated/a.conll", "Kang\tB-PER\nKum-Sil\tI-PER", "Kang\tB-MISC\nKum-Sil\tI-MISC")
    edit(corpus / "annotated/a.conll", "vào\tO", "vào\tLOC")
    assert problems() == [
        "annotated/a.conll:7: unknown label 'B-MISC' (allowed: O, B-/I- PER, ORG, LOC, MONEY, DATE)",
        "annotated/a.conll:8: unknown label 'I-MISC' (allowed: O, B-/I- PER, ORG, LOC, MONEY, DATE)",
        "annotated/a.conll:20: tag 'LOC' is not O, B-TYPE or I-TYPE",
    ]


def test_duplicate_sentence_across_files(corpus):
    (corpus / "raw/b.txt").write_text(RAW_B + "Hà Nội đón bà Kang Kum-Sil.\n", encoding="utf-8")
    duplicate = CONLL_A.split("\n\n")[0].replace("a-1", "b-2")
    (corpus / "annotated/b.conll").write_text(CONLL_B + "\n" + duplicate + "\n", encoding="utf-8")
    assert problems() == ["annotated/b.conll:11: duplicate sentence, first at annotated/a.conll:2"]


def test_duplicate_sentence_within_a_file(corpus):
    (corpus / "annotated/b.conll").write_text(CONLL_B + "\n" + CONLL_B.replace("b-1", "b-2"), encoding="utf-8")
    assert problems() == ["annotated/b.conll:11: duplicate sentence, first at annotated/b.conll:2"]


def test_missing_annotated_file_and_missing_raw_file(corpus):
    (corpus / "annotated/b.conll").unlink()
    (corpus / "annotated/c.conll").write_text(CONLL_B.replace("b-1", "c-1"), encoding="utf-8")
    assert problems() == [
        "annotated/c.conll:1: no raw article raw/c.txt",
        "raw/b.txt:1: raw article has no annotated file annotated/b.conll",
    ]


def test_text_not_a_sentence_of_the_raw_article(corpus):
    # Interface text dropped from the raw file's sentences: "Xem thêm" is a sentence, "Xem" is not.
    edit(corpus / "annotated/b.conll", "# text = Thành ủy Hà Nội họp.", "# text = Thành ủy Hà Nội  họp.")
    assert problems() == ["annotated/b.conll:2: text is not a sentence of the raw article: 'Thành ủy Hà Nội  họp.'"]


def test_comment_lines_and_sent_ids(corpus):
    edit(corpus / "annotated/a.conll", "# sent_id = a-1", "# sent_id = x-1")
    edit(corpus / "annotated/a.conll", "# sent_id = a-2", "#sent_id = a-2")
    edit(corpus / "annotated/b.conll", "# text = Thành ủy Hà Nội họp.", "# text = Thành ủy Hà Nội họp.\t")
    assert problems() == [
        "annotated/a.conll:1: sent_id 'x-1' is not a-<n>",
        "annotated/a.conll:11: comment must start with '# ': '#sent_id = a-2'",
        "annotated/a.conll:11: sentence has no '# sent_id = ...' line",
        "annotated/b.conll:2: comment line contains a tab",
        "annotated/b.conll:2: text is not a sentence of the raw article: 'Thành ủy Hà Nội họp.\\t'",
    ]


def test_every_problem_is_reported_not_just_the_first(corpus):
    edit(corpus / "annotated/a.conll", "Nội\tI-LOC", "Nội\tI-ORG")
    edit(corpus / "annotated/a.conll", "7/9\tI-DATE", "7/9\tB-TIME")
    edit(corpus / "annotated/b.conll", "họp\tO", "hop\tO")
    (corpus / "annotated/b.conll").write_text((corpus / "annotated/b.conll").read_text() + "\nlẻ loi\n", encoding="utf-8")
    assert problems() == [
        "annotated/a.conll:4: I-ORG follows B-LOC, not B-ORG or I-ORG (broken IOB2)",
        "annotated/a.conll:22: unknown label 'B-TIME' (allowed: O, B-/I- PER, ORG, LOC, MONEY, DATE)",
        "annotated/b.conll:7: token 'hop' does not match the text here ('họp')",
        "annotated/b.conll:10: expected TOKEN<TAB>TAG, got 'lẻ loi'",
        "annotated/b.conll:10: sentence has no '# sent_id = ...' line",
        "annotated/b.conll:10: sentence has no '# text = ...' line",
        "annotated/b.conll:10: sentence has no token lines",
    ]


def test_bad_input_is_reported_never_raised(corpus):
    (corpus / "annotated/b.conll").write_bytes(b"# sent_id = b-1\n\x89PNG\r\n\x1a\n\x00\xff")
    (corpus / "annotated/c.conll").mkdir()  # a folder where a file should be
    (corpus / "raw/c.txt").write_text("", encoding="utf-8")
    (corpus / "raw/d.txt").write_text("", encoding="utf-8")
    (corpus / "annotated/d.conll").write_text("", encoding="utf-8")
    found = problems()
    assert "annotated/b.conll:2: not UTF-8 text (invalid start byte at byte 16)" in found
    assert any(p.startswith("annotated/c.conll: cannot read") for p in found)
    assert "annotated/d.conll:1: no sentences" in found
    assert [str(p) for p in validate_corpus("nowhere/annotated")] == [
        "nowhere/annotated: no such directory",
        "nowhere/raw: no such directory",
    ]


def test_command_prints_every_problem_and_exits_non_zero(corpus, capsys):
    assert main(["validate", "annotated"]) == 0
    assert "ok" in capsys.readouterr().out
    edit(corpus / "annotated/a.conll", "Nội\tI-LOC", "Nội\tI-ORG")
    (corpus / "annotated/b.conll").unlink()
    assert main(["validate", "annotated", "--raw", "raw"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "annotated/a.conll:4: I-ORG follows B-LOC, not B-ORG or I-ORG (broken IOB2)",
        "raw/b.txt:1: raw article has no annotated file annotated/b.conll",
    ]
    assert main(["validate", "missing"]) == 1


def test_splits_check(corpus):
    splits = corpus / "splits.json"
    splits.write_text('{"train": ["a"], "dev": ["b"], "test": []}', encoding="utf-8")
    assert [str(p) for p in validate_splits(splits.name, "annotated")] == [
        "splits.json:1: no DATE entity in split 'dev'",
        "splits.json:1: no DATE entity in split 'test'",
        "splits.json:1: no LOC entity in split 'dev'",
        "splits.json:1: no LOC entity in split 'test'",
        "splits.json:1: no MONEY entity in split 'dev'",
        "splits.json:1: no MONEY entity in split 'test'",
        "splits.json:1: no ORG entity in split 'test'",
        "splits.json:1: no PER entity in split 'dev'",
        "splits.json:1: no PER entity in split 'test'",
        "splits.json:1: split 'test' is empty",
    ]
    splits.write_text('{"train": [], "dev": ["a"], "test": ["c"]}', encoding="utf-8")
    found = [str(p) for p in validate_splits(splits.name, "annotated")]
    assert "splits.json:1: article 'b' is in no split" in found
    assert "annotated/c.conll: no such file" in found
    splits.write_text('{"train": [', encoding="utf-8")
    assert [str(p) for p in validate_splits(splits.name, "annotated")][0].startswith("splits.json:1: not valid JSON")


# The repository's own corpus. It fails until the gold data is in data/annotated: that is intended.
def test_repository_corpus_is_valid():
    assert [str(p) for p in validate_corpus(REPO / "data/annotated", REPO / "data/raw")] == []


def test_repository_corpus_has_five_articles_matching_the_shared_originals():
    raw = sorted((REPO / "data/raw").glob("*.txt"))
    assert len(raw) == 5
    assert sorted(p.stem for p in (REPO / "data/annotated").glob("*.conll")) == [p.stem for p in raw]
    originals = REPO.parent / "shared" / "articles"
    if originals.is_dir():  # beside the clone on the project's machines and in CI
        for path in raw:
            assert path.read_bytes() == (originals / path.name).read_bytes(), path.name


def test_repository_splits_cover_every_type_in_dev_and_test():
    assert [str(p) for p in validate_splits(REPO / "data/splits.json", REPO / "data/annotated")] == []


def test_duplicate_sent_id(corpus):
    edit(corpus / "annotated/a.conll", "# sent_id = a-2", "# sent_id = a-1")
    assert problems() == ["annotated/a.conll:11: duplicate sent_id, first at annotated/a.conll:1"]


def test_zero_width_space_separates_tokens_like_whitespace(corpus):
    # The tokenizer splits at U+200B, so the gold tokens do not contain it and still reassemble the text.
    (corpus / "raw/c.txt").write_text("Hà\u200bNội đẹp.\n", encoding="utf-8")
    conll = "# sent_id = c-1\n# text = Hà\u200bNội đẹp.\nHà\tB-LOC\nNội\tI-LOC\nđẹp\tO\n.\tO\n"
    (corpus / "annotated/c.conll").write_text(conll, encoding="utf-8")
    assert problems() == []


# ------------------------------------------------------------------- a user's own file: its own rules

# PhoNER_COVID19 style: space-separated, word-level, ten types of its own, no "# text" comments.
PHONER = """\
Bệnh_nhân B-PATIENT_ID
91 I-PATIENT_ID
là O
nam B-GENDER
, O
phi_công B-JOB
người O
Anh B-LOCATION
, O
33 B-AGE
tuổi O

Ngày B-DATE
18/3 I-DATE
, O
ông O
Nguyễn_Văn_A B-NAME
bay O
chuyến O
VN0054 B-TRANSPORTATION
của O
Vietnam_Airlines B-ORGANIZATION
, O
bị O
sốt B-SYMPTOM_AND_DISEASE
"""
PHONER_TYPES = ["DATE", "AGE", "GENDER", "JOB", "LOCATION", "NAME", "ORGANIZATION", "PATIENT_ID", "SYMPTOM_AND_DISEASE", "TRANSPORTATION"]


def test_a_user_file_in_its_own_format_validates(tmp_path, capsys):
    path = tmp_path / "train_word.conll"
    path.write_text(PHONER, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"ok: {path}" in out
    # Counted as training reads it: its 4 word tokens (Bệnh_nhân, Nguyễn_Văn_A, ...) split into syllables.
    assert "2 sentences, 29 tokens, 10 entities" in out and "tokens: auto -> words, 4 word tokens split into syllables" in out
    assert main(["validate", str(path), "--tokens", "syllables"]) == 0
    assert "2 sentences, 24 tokens, 10 entities" in capsys.readouterr().out
    assert "types: " + ", ".join(PHONER_TYPES) in out


def test_a_user_file_lists_every_problem_as_file_and_line(tmp_path, capsys):
    path = tmp_path / "user.conll"
    broken = PHONER.replace("tuổi O", "tuổi AGE").replace("18/3 I-DATE", "18/3 I-NAME").replace(", O\nông", ",\nông")
    path.write_text(broken, encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines()[:3] == [
        f"{path}:11: tag 'AGE' is not O, B-TYPE or I-TYPE",
        f"{path}:14: I-NAME follows B-DATE, not B-NAME or I-NAME (broken IOB2) (pass scheme='IOB1' for IOB1 files)",
        f"{path}:15: expected TOKEN<TAB>TAG, got ','",
    ]


def test_a_user_file_is_checked_with_its_scheme_and_its_own_text_comments(tmp_path, capsys):
    iob1 = tmp_path / "iob1.conll"
    iob1.write_text("# text = Ông Kang tới Seoul\nÔng\tO\nKang\tI-PER\ntới\tO\nSeoul\tI-LOC\n", encoding="utf-8")
    assert main(["validate", str(iob1), "--scheme", "IOB1"]) == 0
    capsys.readouterr()
    assert main(["validate", str(iob1)]) == 1
    assert f"{iob1}:3: I-PER follows O" in capsys.readouterr().out
    other = tmp_path / "other.conll"
    other.write_text("# text = Ông Kang tới Seoul\nÔng\tO\nKim\tB-PER\n\nHà\tB-LOC\n", encoding="utf-8")
    assert main(["validate", str(other), str(iob1), "--scheme", "IOB1"]) == 1
    out = capsys.readouterr().out
    assert f"{other}:1: tokens do not spell the sentence's '# text' from token 1 ('Kim')" in out
    assert f"ok: {iob1}" in out


def test_layout_rules_are_checked_on_the_blocks_the_conll_reader_splits(corpus):
    from vietner.conll import line_blocks
    from vietner.corpus import read_conll_problems

    text = (
        "# sent_id = a-1\r\n# text = Hà Nội đón bà Kang Kum-Sil.\nHà\tB-LOC\nNội\tI-LOC\nđón\tO\r\n"
        "# text = again\n#COVID O\nbà\tO\nKang\tB-PER\nKum-Sil\tI-PER\n.\tO\n \t\n-DOCSTART-\tO\n\n# sent_id = a-2\n\r\n"
    )
    (corpus / "annotated/a.conll").write_text(text, encoding="utf-8")
    (corpus / "raw/a.txt").write_text("Hà Nội đón bà Kang Kum-Sil.\n", encoding="utf-8")
    blocks, blank = line_blocks(text)
    assert [b.first_line for b in blocks] == [1, 13, 15] and [n for n, _ in blank] == [12, 14, 16, 17]
    # The reader reads its sentence from the same block (its lenient rules take "#COVID O" as a token).
    assert [s.line for s in read_conll_problems(corpus / "annotated/a.conll")[0]] == [1]
    # The messages the validator gave when it split the lines itself.
    assert problems() == [
        "annotated/a.conll:1: carriage return in line (use \\n line endings)",
        "annotated/a.conll:5: carriage return in line (use \\n line endings)",
        "annotated/a.conll:6: comment line after the token lines of a sentence",
        "annotated/a.conll:7: comment must start with '# ': '#COVID O'",
        "annotated/a.conll:12: blank line contains whitespace",
        "annotated/a.conll:13: sentence has no '# sent_id = ...' line",
        "annotated/a.conll:13: sentence has no '# text = ...' line",
        "annotated/a.conll:15: sentence has no '# text = ...' line",
        "annotated/a.conll:15: sentence has no token lines",
        "annotated/a.conll:16: carriage return in line (use \\n line endings)",
    ]
