"""Evaluation: scores checked against numbers worked out by hand, and against seqeval's own functions."""

import json
import os
import statistics
import subprocess
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest
from seqeval.metrics import (
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)
from seqeval.scheme import IOB2

from vietner.corpus import CorpusFormatError, Sentence, write_conll
from vietner.spans import Entity, Span
from vietner.evaluation import (
    DictionaryTagger,
    UndertheseaTagger,
    bootstrap,
    confusion,
    cross_validate,
    errors,
    evaluate_tags,
    entities,
    folds,
    format_confusion,
    format_cross_validation,
    format_errors,
    format_predictions,
    format_report,
    main,
    read_predictions,
    entity_scores,
    restrict_types,
    spans_to_tags,
    token_offsets,
    train_fold_with_script,
)

ROOT = Path(__file__).resolve().parents[1]

# TOKEN, GOLD, PRED. Chosen so that IOB2 strict mode and the default (conlleval) mode disagree:
#   s1: the predicted LOC opens with I-LOC: an entity in default mode, no entity in strict mode.
#   s2: ORG predicted one syllable short (a boundary error), LOC right.
#   s3: PER predicted as LOC with the right span (a type error); gold LOC "Đà Nẵng" predicted B-LOC I-PER,
#       which default mode reads as LOC "Đà" + PER "Nẵng" and strict mode as LOC "Đà" only.
#   s4: no gold entity; a stray I-PER is a spurious PER in default mode and nothing in strict mode.
PREDICTIONS = """\
# sent_id = s1
# text = Ông Nguyễn Văn An đến Hà Nội hôm qua.
Ông	O	O
Nguyễn	B-PER	B-PER
Văn	I-PER	I-PER
An	I-PER	I-PER
đến	O	O
Hà	B-LOC	I-LOC
Nội	I-LOC	I-LOC
hôm	O	O
qua	O	O
.	O	O

# sent_id = s2
# text = Bộ Y tế họp tại TP Hồ Chí Minh.
Bộ	B-ORG	B-ORG
Y	I-ORG	I-ORG
tế	I-ORG	O
họp	O	O
tại	O	O
TP	B-LOC	B-LOC
Hồ	I-LOC	I-LOC
Chí	I-LOC	I-LOC
Minh	I-LOC	I-LOC
.	O	O

# sent_id = s3
# text = Công ty Vina gặp Lê Lan ở Đà Nẵng
Công	B-ORG	B-ORG
ty	I-ORG	I-ORG
Vina	I-ORG	I-ORG
gặp	O	O
Lê	B-PER	B-LOC
Lan	I-PER	I-LOC
ở	O	O
Đà	B-LOC	B-LOC
Nẵng	I-LOC	I-PER

# sent_id = s4
# text = Hôm nay trời đẹp
Hôm	O	O
nay	O	O
trời	O	I-PER
đẹp	O	O
"""


def prf(p: F, r: F, f1: F | None = None, support: int = 0) -> dict:
    f1 = f1 if f1 is not None else (2 * p * r / (p + r) if p + r else F(0))
    return {"precision": p, "recall": r, "f1": f1, "support": support}


# Worked out by hand. Gold entities: PER 2 (s1, s3), LOC 3 (s1, s2, s3), ORG 2 (s2, s3); 7 in all.
#
# Strict: predicted PER s1 (right); LOC s2 (right), "Lê Lan" (wrong type), "Đà" (wrong span); ORG "Bộ Y"
# (wrong span), s3 (right). The I-LOC-opened s1 LOC, the I-PER "Nẵng" and the s4 I-PER are no entities.
#   PER: tp 1 / pred 1 / gold 2 -> P 1, R 1/2, F1 2/3
#   LOC: tp 1 / pred 3 / gold 3 -> P 1/3, R 1/3, F1 1/3
#   ORG: tp 1 / pred 2 / gold 2 -> P 1/2, R 1/2, F1 1/2
#   micro: tp 3 / pred 6 / gold 7 -> P 1/2, R 3/7, F1 2*3/(6+7) = 6/13
#   macro: P (1 + 1/3 + 1/2)/3 = 11/18, R (1/2 + 1/3 + 1/2)/3 = 4/9, F1 (2/3 + 1/3 + 1/2)/3 = 1/2
#   weighted by support 2/3/2: P (2*1 + 3/3 + 2/2)/7 = 4/7, R (1 + 1 + 1)/7 = 3/7, F1 (4/3 + 1 + 1)/7 = 10/21
STRICT = {
    "LOC": prf(F(1, 3), F(1, 3), support=3),
    "ORG": prf(F(1, 2), F(1, 2), support=2),
    "PER": prf(F(1), F(1, 2), support=2),
    "micro avg": prf(F(1, 2), F(3, 7), F(6, 13), 7),
    "macro avg": prf(F(11, 18), F(4, 9), F(1, 2), 7),
    "weighted avg": prf(F(4, 7), F(3, 7), F(10, 21), 7),
}
# Default: as strict, plus LOC "Hà Nội" in s1 (right: I-LOC opens it), PER "Nẵng" in s3 and PER "trời" in s4.
#   PER: tp 1 / pred 3 / gold 2 -> P 1/3, R 1/2, F1 2/5
#   LOC: tp 2 / pred 4 / gold 3 -> P 1/2, R 2/3, F1 4/7
#   ORG: tp 1 / pred 2 / gold 2 -> P 1/2, R 1/2, F1 1/2
#   micro: tp 4 / pred 9 / gold 7 -> P 4/9, R 4/7, F1 8/16 = 1/2
#   macro: P (1/3 + 1/2 + 1/2)/3 = 4/9, R (1/2 + 2/3 + 1/2)/3 = 5/9, F1 (2/5 + 4/7 + 1/2)/3 = 103/210
#   weighted: P (2/3 + 3/2 + 1)/7 = 19/42, R (1 + 2 + 1)/7 = 4/7, F1 (4/5 + 12/7 + 1)/7 = 123/245
DEFAULT = {
    "LOC": prf(F(1, 2), F(2, 3), support=3),
    "ORG": prf(F(1, 2), F(1, 2), support=2),
    "PER": prf(F(1, 3), F(1, 2), support=2),
    "micro avg": prf(F(4, 9), F(4, 7), F(1, 2), 7),
    "macro avg": prf(F(4, 9), F(5, 9), F(103, 210), 7),
    "weighted avg": prf(F(19, 42), F(4, 7), F(123, 245), 7),
}
EXPECTED = {"strict": STRICT, "default": DEFAULT}


# seqeval's row names -> the keys of vietner's one score shape (metrics.json's).
OURS = {"micro avg": "overall", "macro avg": "macro", "weighted avg": "weighted"}


def row_of(scores: dict, name: str) -> dict:
    """seqeval's row ``name`` (a type or an average) in ``{overall, per_type, macro, weighted}`` scores."""
    return scores[OURS[name]] if name in OURS else scores["per_type"][name]


def assert_report(actual: dict, expected: dict) -> None:
    assert sorted(actual) == ["macro", "overall", "per_type", "weighted"]
    assert sorted(actual["per_type"]) == sorted(name for name in expected if name not in OURS)
    for name, row in expected.items():
        for key, value in row.items():
            assert row_of(actual, name)[key] == pytest.approx(float(value), abs=1e-12), (name, key)


@pytest.fixture
def predictions_file(tmp_path: Path) -> Path:
    path = tmp_path / "predictions.conll"
    path.write_text(PREDICTIONS, encoding="utf-8")
    return path


@pytest.fixture
def gold_pred(predictions_file):
    sentences, pred = read_predictions(predictions_file)
    return sentences, [list(s.tags) for s in sentences], pred


@pytest.mark.parametrize("mode", ["strict", "default"])
def test_hand_worked_numbers_are_seqeval_s(gold_pred, mode):
    # The table above against seqeval itself, not against vietner: a slip in the hand working shows up here.
    _, gold, pred = gold_pred
    kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    theirs = classification_report(gold, pred, output_dict=True, **kwargs)
    assert sorted(theirs) == sorted(EXPECTED[mode])
    for name, row in EXPECTED[mode].items():
        assert theirs[name]["precision"] == pytest.approx(float(row["precision"]), abs=1e-12), name
        assert theirs[name]["recall"] == pytest.approx(float(row["recall"]), abs=1e-12), name
        assert theirs[name]["f1-score"] == pytest.approx(float(row["f1"]), abs=1e-12), name
        assert theirs[name]["support"] == row["support"], name


def test_read_predictions_keeps_ids_text_and_both_columns(gold_pred):
    sentences, gold, pred = gold_pred
    assert [s.sent_id for s in sentences] == ["s1", "s2", "s3", "s4"]
    assert sentences[0].text == "Ông Nguyễn Văn An đến Hà Nội hôm qua."
    assert gold[2][-2:] == ["B-LOC", "I-LOC"] and pred[2][-2:] == ["B-LOC", "I-PER"]


@pytest.mark.parametrize("mode", ["strict", "default"])
def test_scores_are_the_hand_worked_numbers(gold_pred, mode):
    _, gold, pred = gold_pred
    assert_report(entity_scores(gold, pred, mode), EXPECTED[mode])


@pytest.mark.parametrize("mode", ["strict", "default"])
def test_scores_equal_seqeval_own(gold_pred, mode):
    _, gold, pred = gold_pred
    kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    ours = entity_scores(gold, pred, mode)
    theirs = classification_report(gold, pred, output_dict=True, **kwargs)
    assert sorted(ours["per_type"]) == sorted(name for name in theirs if name not in OURS)
    for name, row in theirs.items():
        assert row_of(ours, name)["precision"] == row["precision"]
        assert row_of(ours, name)["recall"] == row["recall"]
        assert row_of(ours, name)["f1"] == row["f1-score"]
        assert row_of(ours, name)["support"] == row["support"]
    assert ours["overall"]["precision"] == precision_score(gold, pred, **kwargs)
    assert ours["overall"]["recall"] == recall_score(gold, pred, **kwargs)
    assert ours["overall"]["f1"] == f1_score(gold, pred, **kwargs)


def test_modes_really_differ_here(gold_pred):
    _, gold, pred = gold_pred
    assert entity_scores(gold, pred, "strict")["overall"]["f1"] != entity_scores(gold, pred, "default")["overall"]["f1"]
    assert entities(["I-LOC", "I-LOC"], "strict") == []
    assert entities(["I-LOC", "I-LOC"], "default") == [Span("LOC", 0, 2)]


def test_cli_scores_a_predictions_file_with_the_hand_worked_numbers(predictions_file, tmp_path, capsys):
    output = tmp_path / "out" / "report.json"
    old_umask = os.umask(0o022)
    try:
        assert main(["--predictions", str(predictions_file), "--output", str(output), "--bootstrap", "200"]) == 0
    finally:
        os.umask(old_umask)
    # every file it writes gets the umask's permissions
    assert {p.stat().st_mode & 0o777 for p in output.parent.iterdir()} == {0o644}
    printed = capsys.readouterr().out
    report = json.loads(output.read_text(encoding="utf-8"))
    for mode in ("strict", "default"):
        assert_report(report[mode], EXPECTED[mode])
    # The printed table puts the modes side by side: strict P R F1, default P R F1, support.
    report_table = printed.split("Type confusion")[0]
    rows = {line.split()[0]: line.split()[1:] for line in report_table.splitlines() if line.split()[:1] in (["LOC"], ["PER"], ["ORG"])}
    assert rows["PER"] == ["1.000", "0.500", "0.667", "0.333", "0.500", "0.400", "2"]
    assert rows["LOC"] == ["0.333", "0.333", "0.333", "0.500", "0.667", "0.571", "3"]
    assert rows["ORG"] == ["0.500", "0.500", "0.500", "0.500", "0.500", "0.500", "2"]
    micro = next(line for line in printed.splitlines() if line.startswith("micro avg")).split()
    assert micro[2:] == ["0.500", "0.429", "0.462", "0.444", "0.571", "0.500", "7"]
    assert "95% CI" in printed
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| PER | 1.000 | 0.500 | 0.667 | 0.333 | 0.500 | 0.400 | 2 |" in markdown
    error_file = (tmp_path / "out" / "report.errors.txt").read_text(encoding="utf-8")
    assert error_file.startswith("# 4 false negatives and 3 false positives in 3 sentences")
    # No baseline by default for a predictions file (it may come from another corpus), so no
    # underthesea-comparable PER/ORG/LOC row either.
    assert report["comparison"].keys() == {"predictions"}
    assert report["comparison"]["predictions"]["types"] == ["PER", "ORG", "LOC"]


def test_cli_refuses_to_overwrite_and_reports_bad_files(predictions_file, tmp_path, capsys):
    output = tmp_path / "report.json"
    output.write_text("{}")
    assert main(["--predictions", str(predictions_file), "--output", str(output)]) == 2
    assert "exists" in capsys.readouterr().err
    bad = tmp_path / "bad.conll"
    bad.write_text("Hà\tB-LOC\n", encoding="utf-8")
    assert main(["--predictions", str(bad)]) == 2
    assert f"{bad}:1: expected TOKEN<TAB>GOLD<TAB>PRED" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--data", "--predictions"])
def test_cli_names_the_line_of_a_file_that_is_not_utf8_and_exits_2(tmp_path, capsys, option):
    bad = tmp_path / "latin1.conll"
    bad.write_bytes("Hà\tB-LOC\tB-LOC\n".encode("utf-8") + "café\tO\tO\n".encode("latin-1"))
    assert main([option, str(bad), "--baselines"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:2: not UTF-8 text") and len(err.splitlines()) == 1


def test_evaluate_script_from_the_command_line(predictions_file):
    done = subprocess.run(
        [sys.executable, "evaluate.py", "--predictions", str(predictions_file), "--bootstrap", "100"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "micro avg" in done.stdout and "Type confusion" in done.stdout


def test_bootstrap_is_seeded_and_agrees_with_seqeval(gold_pred):
    _, gold, pred = gold_pred
    for mode in ("strict", "default"):
        first = bootstrap(gold, pred, mode, samples=500, seed=7)
        assert first == bootstrap(gold, pred, mode, samples=500, seed=7)
        assert first["micro"]["f1"] == pytest.approx(entity_scores(gold, pred, mode)["overall"]["f1"], abs=1e-12)
        assert 0 <= first["micro"]["low"] <= first["micro"]["f1"] <= first["micro"]["high"] <= 1
        assert first["micro"]["low"] < first["micro"]["high"]  # four sentences of mixed quality: a wide interval
        for label, interval in first["types"].items():
            assert interval["f1"] == pytest.approx(entity_scores(gold, pred, mode)["per_type"][label]["f1"], abs=1e-12)
    assert bootstrap(gold, pred, samples=500, seed=1) != bootstrap(gold, pred, samples=500, seed=2)
    perfect = bootstrap(gold, gold, samples=200, seed=0)["micro"]
    assert perfect == {"f1": 1.0, "low": 1.0, "high": 1.0}


def test_confusion_table_hand_worked(gold_pred):
    _, gold, pred = gold_pred
    table = confusion(gold, pred, "strict")
    assert table["types"] == ["LOC", "ORG", "PER"]
    assert table["rows"] == {
        # s2 right; s3 "Đà Nẵng" overlapped by "Đà"; s1 "Hà Nội" has no (strict) prediction at all.
        "LOC": {"LOC": 1, "ORG": 0, "PER": 0, "boundary": 1, "missed": 1},
        # s3 right; s2 "Bộ Y tế" overlapped by "Bộ Y".
        "ORG": {"LOC": 0, "ORG": 1, "PER": 0, "boundary": 1, "missed": 0},
        # s1 right; s3 "Lê Lan" predicted LOC with the same span.
        "PER": {"LOC": 1, "ORG": 0, "PER": 1, "boundary": 0, "missed": 0},
    }
    assert table["boundary"] == {"LOC": 1, "ORG": 1, "PER": 0}
    assert table["spurious"] == {"LOC": 0, "ORG": 0, "PER": 0}
    # In default mode the s1 LOC is found, and "trời" (s4) and "Nẵng" (s3) are spurious / boundary PERs.
    default = confusion(gold, pred, "default")
    assert default["rows"]["LOC"]["LOC"] == 2 and default["rows"]["LOC"]["missed"] == 0
    assert default["spurious"]["PER"] == 1 and default["boundary"]["PER"] == 1
    text = format_confusion(table)
    assert "(spurious)" in text and "pred total" in text


def test_error_list_has_every_false_positive_and_negative(gold_pred):
    sentences, _, pred = gold_pred
    records = errors(sentences, pred, "strict")
    found = {(r["sent_id"], e["kind"], e["type"], e["tokens"], e["fate"]) for r in records for e in r["errors"]}
    assert found == {
        ("s1", "FN", "LOC", "Hà Nội", "missed"),
        ("s2", "FN", "ORG", "Bộ Y tế", "boundary"),
        ("s2", "FP", "ORG", "Bộ Y", "boundary"),
        ("s3", "FN", "PER", "Lê Lan", "type"),
        ("s3", "FP", "LOC", "Lê Lan", "type"),
        ("s3", "FN", "LOC", "Đà Nẵng", "boundary"),
        ("s3", "FP", "LOC", "Đà", "boundary"),
    }
    # FN + TP = gold and FP + TP = predicted, as seqeval counts them (strict: tp 3, pred 6, gold 7).
    assert sum(e["kind"] == "FN" for r in records for e in r["errors"]) == 7 - 3
    assert sum(e["kind"] == "FP" for r in records for e in r["errors"]) == 6 - 3
    text = format_errors(records)
    assert "text: Công ty Vina gặp Lê Lan ở Đà Nẵng" in text
    assert "pred: [ORG Công ty Vina] gặp [LOC Lê Lan] ở [LOC Đà] Nẵng" in text


def test_predictions_file_round_trip(gold_pred, tmp_path):
    sentences, _, pred = gold_pred
    path = tmp_path / "again.conll"
    path.write_text(format_predictions(sentences, pred), encoding="utf-8")
    again, again_pred = read_predictions(path)
    assert again == sentences and again_pred == pred


def test_report_formats_both_modes_side_by_side(gold_pred):
    sentences, _, pred = gold_pred
    report = evaluate_tags(sentences, pred, samples=100, seed=0)
    text = format_report(report)
    header = text.splitlines()[0].split()
    assert header[:4] == ["type", "P", "(strict)", "R"] and "(default)" in header
    assert "macro avg" in text and "weighted avg" in text and "IOB2 strict" in text


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        entity_scores([["B-PER", "O"]], [["B-PER"]])


# ------------------------------------------------------------------------ raw text -> syllable tags


def test_token_offsets_and_spans_to_tags():
    text = "Sáng 7/9, Bí thư Hà Nội tiếp bà Kang Kum-Sil."
    tokens = ["Sáng", "7/9", ",", "Bí", "thư", "Hà", "Nội", "tiếp", "bà", "Kang", "Kum-Sil", "."]
    offsets = token_offsets(text, tokens)
    assert [text[a:b] for a, b in offsets] == tokens
    hanoi = text.index("Hà Nội")
    kang = text.index("Kang")
    # A span that cuts a token ("Kum" of "Kum-Sil") takes the whole token.
    found = [Entity(kang, kang + 8, "PER", text[kang : kang + 8]), Entity(hanoi, hanoi + 6, "LOC", text[hanoi : hanoi + 6])]
    tags = spans_to_tags(offsets, found)
    assert tags == ["O"] * 5 + ["B-LOC", "I-LOC", "O", "O", "B-PER", "I-PER", "O"]
    with pytest.raises(ValueError, match="not found"):
        token_offsets(text, ["Sáng", "Hà"])


class FakeEntity:
    def __init__(self, text: str, piece: str, label: str, nth: int = 0):
        start = -1
        for _ in range(nth + 1):
            start = text.index(piece, start + 1)
        self.start, self.end, self.label = start, start + len(piece), label


def test_raw_text_spans_map_onto_gold_syllables():
    text = "Ông Park Won-soon đến TP. Hồ Chí Minh. Sau đó về Seoul."
    sentence = Sentence(("Ông", "Park", "Won-soon", "đến", "TP", ".", "Hồ", "Chí", "Minh", ".", "Sau", "đó", "về", "Seoul", "."),
                        ("O",) * 15, "x-1", text)
    found = [FakeEntity(text, piece, label) for piece, label in [("Park Won-soon", "PER"), ("Hồ Chí Minh", "LOC"), ("Seoul", "LOC")]]
    tags = spans_to_tags(token_offsets(text, sentence.tokens), found)
    assert [t for t, tag in zip(sentence.tokens, tags) if tag != "O"] == ["Park", "Won-soon", "Hồ", "Chí", "Minh", "Seoul"]
    assert tags[1:3] == ["B-PER", "I-PER"] and tags[6] == "B-LOC" and tags[13] == "B-LOC"


# ----------------------------------------------------------------------------------------- baselines


def sent(pairs: str, sent_id: str = "", text: str = "") -> Sentence:
    tokens, tags = zip(*(item.rsplit("/", 1) for item in pairs.split()))
    return Sentence(tuple(tokens), tuple(tags), sent_id, text or " ".join(tokens))


def test_dictionary_baseline_longest_match_and_majority_type():
    train = [
        sent("Hà/B-LOC Nội/I-LOC đẹp/O"),
        sent("UBND/B-ORG TP/I-ORG Hà/I-ORG Nội/I-ORG họp/O"),
        sent("Hà/B-LOC Nội/I-LOC và/O Hà/B-ORG Nội/I-ORG"),  # "Hà Nội": LOC twice, ORG once -> LOC
        sent("Nam/B-PER đi/O"),
    ]
    tagger = DictionaryTagger.fit(train)
    assert tagger.entries[("Hà", "Nội")] == "LOC"
    tags = tagger.tag(["UBND", "TP", "Hà", "Nội", "gặp", "Nam", "ở", "Hà", "Nội", "Hà"])
    assert tags == ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
    # Same-type neighbours stay two entities (B- each), as in the gold.
    assert tagger.tag(["Hà", "Nội", "Hà", "Nội"]) == ["B-LOC", "I-LOC", "B-LOC", "I-LOC"]


def test_underthesea_labels_mapped_and_words_aligned():
    # underthesea's words join syllables with spaces; MISC is dropped; an entity may open with I-; a
    # respelled tone mark ("Hòa" for "Hoà") still aligns by position.
    rows = {
        "Ông Lê Văn Hoà ở Hà Nội gặp người Hàn Quốc, Bộ Y tế.": [
            ("Ông", "Nc", "B-NP", "O"), ("Lê Văn Hòa", "Np", "B-NP", "B-PER"), ("ở", "E", "B-PP", "O"),
            ("Hà Nội", "Np", "B-NP", "I-LOC"), ("gặp", "V", "B-VP", "O"), ("người", "N", "B-NP", "O"),
            ("Hàn Quốc", "Np", "B-NP", "B-MISC"), (",", "CH", "O", "O"), ("Bộ", "N", "B-NP", "B-ORG"),
            ("Y tế", "N", "B-NP", "I-ORG"), (".", "CH", "O", "O"),
        ]
    }
    text = next(iter(rows))
    tagger = UndertheseaTagger(ner=lambda t: rows[t])
    sentence = sent("Ông/O Lê/B-PER Văn/I-PER Hoà/I-PER ở/O Hà/B-LOC Nội/I-LOC gặp/O người/O Hàn/O Quốc/O ,/O Bộ/B-ORG Y/I-ORG tế/I-ORG ./O", text=text)
    assert UndertheseaTagger(ner=lambda t: rows[t])([sentence])[0] == list(sentence.tags)
    assert [entity.label for entity in tagger.spans(text)] == ["PER", "LOC", "ORG"]


def test_underthesea_runs_offline_on_a_plain_sentence():
    sentence = sent("Nguyễn/B-PER Đức/I-PER Chung/I-PER đến/O Hà/B-LOC Nội/I-LOC ./O", text="Nguyễn Đức Chung đến Hà Nội.")
    assert UndertheseaTagger()([sentence])[0] == list(sentence.tags)


def test_restrict_types_drops_other_types():
    assert restrict_types(["B-DATE", "I-DATE", "B-PER", "O", "B-MONEY"], ["PER"]) == ["O", "O", "B-PER", "O", "O"]


# ---------------------------------------------------------------------------------- cross-validation


def make_articles() -> dict[str, list[Sentence]]:
    # Five small "articles" sharing some names, so a dictionary trained on four finds part of the fifth.
    names = [("Hà", "Nội", "LOC"), ("Bộ", "Y", "ORG"), ("Lê", "Lan", "PER"), ("Đà", "Nẵng", "LOC"), ("ngày", "7/9", "DATE")]
    articles = {}
    for a in range(5):
        sentences = []
        for k in range(3):
            first, second, label = names[(a + k) % 5]
            sentences.append(sent(f"Hôm/O {first}/B-{label} {second}/I-{label} có/O tin/O", f"a{a}-{k}"))
        # Names seen in this article only (a different number in each), so the folds' scores differ.
        for k in range(a):
            sentences.append(sent(f"Ông/O Tên{a}x{k}/B-PER đến/O", f"a{a}-u{k}"))
        articles[f"a{a}"] = sentences
    return articles


def test_folds_hold_out_each_article_once_with_a_separate_dev(tmp_path):
    fs = folds(["a2", "a0", "a1", "a4", "a3"], tmp_path)
    assert [f.test for f in fs] == ["a0", "a1", "a2", "a3", "a4"]
    for f in fs:
        assert f.dev != f.test and f.test not in f.train and f.dev not in f.train and len(f.train) == 3
    assert sorted(f.dev for f in fs) == ["a0", "a1", "a2", "a3", "a4"]
    with pytest.raises(ValueError, match="at least 3"):
        folds(["a", "b"])


def test_cross_validation_table_per_fold_and_mean_std(tmp_path):
    articles = make_articles()
    trained = []

    def train_fold(fold):
        trained.append(fold)
        return DictionaryTagger.fit([s for a in fold.train for s in articles[a]])

    result = cross_validate(articles, train_fold, tmp_path)
    assert len(trained) == 5 and len(result["folds"]) == 5
    for row, fold in zip(result["folds"], trained):
        test = articles[fold.test]
        expected = entity_scores([s.tags for s in test], DictionaryTagger.fit([s for a in fold.train for s in articles[a]])(test))
        assert row["test"] == fold.test and row["micro_f1"] == expected["overall"]["f1"]
        per_type = expected["per_type"]
        for t in result["types"]:
            assert row[f"{t}_f1"] == (per_type[t]["f1"] if t in per_type and per_type[t]["support"] else None)
    micro = [r["micro_f1"] for r in result["folds"]]
    assert result["summary"]["micro_f1"]["mean"] == pytest.approx(statistics.fmean(micro))
    assert result["summary"]["micro_f1"]["std"] == pytest.approx(statistics.stdev(micro))
    # The articles' own types: no MONEY column, as no article has MONEY.
    assert result["types"] == ["PER", "ORG", "LOC", "DATE"] and "MONEY_f1" not in result["summary"]
    table = format_cross_validation(result)
    assert len(table.splitlines()) == 2 + 5 + 1 and "mean ± std" in table
    assert len(set(micro)) > 1  # the folds differ, so the std is not trivially 0
    assert f"{statistics.fmean(micro):.3f} ± {statistics.stdev(micro):.3f}" in table


def test_fold_trainer_calls_train_script_with_the_fold_split(tmp_path):
    # A stand-in train.py that records its arguments and fails, so the error path is exercised as well.
    script = tmp_path / "fake_train.py"
    script.write_text(
        "import json, sys, pathlib\n"
        "pathlib.Path(sys.argv[0]).with_name('argv.json').write_text(json.dumps(sys.argv[1:]))\n"
        "print('boom: no such config key', file=sys.stderr)\n"
        "sys.exit(2)\n",
        encoding="utf-8",
    )
    fold = folds(["a0", "a1", "a2", "a3", "a4"], tmp_path / "cv")[4]
    train = train_fold_with_script("configs/tiny.yaml", "data/annotated", ["train.epochs=1"], script)
    with pytest.raises(RuntimeError, match="boom: no such config key"):
        train(fold)
    argv = json.loads((tmp_path / "argv.json").read_text())
    splits_path = fold.output_dir / "splits.json"
    assert argv[:2] == ["--config", "configs/tiny.yaml"]
    assert f"data.splits={splits_path}" in argv and f"output_dir={fold.output_dir / 'run'}" in argv
    assert "data.dir=data/annotated" in argv and argv[-2:] == ["--set", "train.epochs=1"]
    assert json.loads(splits_path.read_text()) == {"train": ["a1", "a2", "a3"], "dev": ["a0"], "test": ["a4"]}


def test_load_split_and_dictionary_baseline_from_the_cli(tmp_path, capsys):
    articles = make_articles()
    data = tmp_path / "annotated"
    for name, sentences in articles.items():
        write_conll(sentences, data / f"{name}.conll")
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"train": ["a0", "a1", "a2"], "dev": ["a3"], "test": ["a4"]}))
    assert main(["--split", "test", "--data-dir", str(data), "--splits", str(splits), "--baselines", "dictionary",
                 "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "dictionary" in printed and "all types" in printed
    assert main(["--split", "nope", "--data-dir", str(data), "--splits", str(splits), "--baselines", "dictionary"]) == 2
    assert "no split 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # A bare type is no tag; a stray I- is (it is scored), so only the second line is an error.
        ("Hà\tB-LOC\tI-LOC\nNội\tI-LOC\tLOC\n", r"bad\.conll:2: predicted tag 'LOC' is not O, B-TYPE or I-TYPE"),
        ("Hà\tB-LOC\tB-LOC\n\nNội\tNp\tB-LOC\tB-LOC\n", r"bad\.conll:3: expected 3 columns like line 1, got 4"),
    ],
)
def test_read_predictions_names_the_line_of_a_bad_tag_or_column_count(tmp_path, content, message):
    bad = tmp_path / "bad.conll"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message):
        read_predictions(bad)


def test_read_predictions_reads_nfd_and_bom_files_as_nfc(predictions_file, tmp_path):
    import unicodedata

    copy = tmp_path / "nfd.conll"
    copy.write_bytes(b"\xef\xbb\xbf" + unicodedata.normalize("NFD", PREDICTIONS).replace("\n", "\r\n").encode("utf-8"))
    assert read_predictions(copy) == read_predictions(predictions_file)


def test_read_predictions_rejects_a_file_with_no_sentences(tmp_path):
    empty = tmp_path / "empty.conll"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="no sentences"):
        read_predictions(empty)


def test_cli_scores_a_model_directory_through_the_raw_text_path(tmp_path, capsys):
    # A context-free lookup model tags "Seoul" LOC and "Hà_Nội" LOC, nothing else: against this gold file
    # it finds 3 of the 4 gold entities (it cannot know "Kang Kum-Sil") and predicts nothing spurious, so
    # P = 1, R = 3/4, F1 = 2 * 3/4 / (1 + 3/4) = 6/7 in both modes.
    from tagger_fixtures import lookup_model, save_model_dir, write_tokenizer

    tokenizer = write_tokenizer(["Seoul", "Hà_Nội", "Kang", "Kum-Sil", "đến", "và", "."], tmp_path / "tok")
    model = lookup_model(tokenizer, {"Seoul": "B-LOC", "Hà_Nội": "B-LOC"}, max_length=32)
    directory = save_model_dir(tmp_path / "model", model, tokenizer, segmenter="underthesea", max_length=32, overlap=8)
    gold = [
        sent("Kang/B-PER Kum-Sil/I-PER đến/O Seoul/B-LOC ./O", text="Kang Kum-Sil đến Seoul."),
        sent("Hà/B-LOC Nội/I-LOC và/O Seoul/B-LOC ./O", text="Hà Nội và Seoul."),
    ]
    gold_file = tmp_path / "gold.conll"
    write_conll(gold, gold_file)
    output = tmp_path / "report.json"
    assert main(["--model", str(directory), "--data", str(gold_file), "--output", str(output), "--bootstrap", "50"]) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    for mode in ("strict", "default"):
        micro = report[mode]["overall"]
        assert (micro["precision"], micro["recall"], micro["support"]) == (1.0, 0.75, 4)
        assert micro["f1"] == pytest.approx(6 / 7)
        assert report[mode]["per_type"]["PER"]["recall"] == 0.0 and report[mode]["per_type"]["LOC"]["f1"] == 1.0
    assert "0.857" in capsys.readouterr().out


# ------------------------------------------------------------------ a corpus with its own label set

# PhoNER_COVID19's ten types: DATE is the only one shared with the project corpus, none with underthesea.
TEN_TYPES = ["DATE", "AGE", "GENDER", "JOB", "LOCATION", "NAME", "ORGANIZATION", "PATIENT_ID",
             "SYMPTOM_AND_DISEASE", "TRANSPORTATION"]


def ten_type_sentences() -> list[Sentence]:
    return [
        sent("Bệnh/B-PATIENT_ID nhân/I-PATIENT_ID 91/I-PATIENT_ID là/O nam/B-GENDER ,/O phi/B-JOB công/I-JOB ,/O 43/B-AGE tuổi/O", "t-1"),
        sent("Ngày/B-DATE 18/3/I-DATE ,/O ông/O Minh/B-NAME đi/O chuyến/O VN0054/B-TRANSPORTATION về/O Hà/B-LOCATION Nội/I-LOCATION", "t-2"),
        sent("Bệnh/O viện/O Bạch/B-ORGANIZATION Mai/I-ORGANIZATION nói/O ông/O bị/O sốt/B-SYMPTOM_AND_DISEASE", "t-3"),
    ]


def test_every_table_lists_the_types_of_the_data_at_hand(tmp_path, capsys):
    gold = ten_type_sentences()
    pred = [list(s.tags) for s in gold]
    pred[1][4] = "B-LOCATION"  # one type error, so the scores are not all 1
    predictions = tmp_path / "pred.conll"
    predictions.write_text(format_predictions(gold, pred), encoding="utf-8")
    output = tmp_path / "report.json"
    assert main(["--predictions", str(predictions), "--output", str(output), "--bootstrap", "20",
                 "--baselines", "dictionary", "underthesea"]) == 0
    printed, err = capsys.readouterr()
    table = printed.split("Model and baselines")[1]
    header = table.splitlines()[1].split()
    assert header[3:-4] == TEN_TYPES  # system, scored, on, <types>, micro, F1, 95%, CI
    row = next(line for line in table.splitlines() if line.startswith("predictions"))
    assert "all types" in row and "—" not in row
    report = json.loads(output.read_text(encoding="utf-8"))
    assert list(report["comparison"]) == ["predictions"]
    assert report["comparison"]["predictions"]["types"] == TEN_TYPES
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| system | scored on | " + " | ".join(TEN_TYPES) + " | micro F1 | 95% CI |" in markdown
    # Neither baseline can be scored here, and each says why in one line, on stderr and in the report.
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    underthesea = next(w for w in warnings if "underthesea" in w)
    assert "PER, ORG, LOC" in underthesea and "skipped" in underthesea
    assert "--train" in next(w for w in warnings if "dictionary" in w)
    assert report["notes"] == [w.removeprefix("warning: ") for w in warnings]


def test_dictionary_baseline_learns_the_data_s_own_types_from_train(tmp_path, capsys):
    gold = ten_type_sentences()
    data, train = tmp_path / "test.conll", tmp_path / "train.conll"
    write_conll(gold, data)
    write_conll(gold[:2], train)
    output = tmp_path / "report.json"
    assert main(["--data", str(data), "--train", str(train), "--output", str(output), "--bootstrap", "20"]) == 0
    printed, err = capsys.readouterr()
    row = next(line for line in printed.splitlines() if line.startswith("dictionary"))
    assert "all types" in row and "(PER/ORG/LOC)" not in printed
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["comparison"]["dictionary"]["types"] == TEN_TYPES
    assert report["comparison"]["dictionary"]["report"]["per_type"]["ORGANIZATION"]["recall"] == 0.0  # only in t-3
    assert report["comparison"]["dictionary"]["report"]["per_type"]["NAME"]["f1"] == 1.0
    assert "underthesea" in err and "skipped" in err
    # A training file with none of the data's types teaches the dictionary nothing it can score.
    other = tmp_path / "other.conll"
    write_conll([sent("Hà/B-LOC Nội/I-LOC")], other)
    assert main(["--data", str(data), "--train", str(other), "--baselines", "dictionary"]) == 2
    err = capsys.readouterr().err
    assert "warning: dictionary baseline skipped" in err and "share no type" in err


def test_cross_validation_table_lists_the_corpus_s_own_types(tmp_path):
    articles = {f"a{i}": ten_type_sentences() for i in range(3)}
    result = cross_validate(articles, lambda fold: DictionaryTagger.fit([s for a in fold.train for s in articles[a]]), tmp_path)
    assert result["types"] == TEN_TYPES
    for markdown in (False, True):
        header = format_cross_validation(result, markdown).splitlines()[0]
        assert all(f"{t} F1" in header for t in TEN_TYPES) and "PER F1" not in header


def test_label_map_renames_gold_types_and_a_bad_one_is_a_usage_error(tmp_path, capsys):
    data = tmp_path / "covid.conll"
    write_conll(ten_type_sentences(), data)
    output = tmp_path / "report.json"
    assert main(["--data", str(data), "--train", str(data), "--label-map", "NAME=PER,LOCATION=LOC,DATE=DATE",
                 "--baselines", "dictionary", "--output", str(output), "--bootstrap", "20"]) == 0
    report = json.loads(output.read_text(encoding="utf-8"))
    # The dictionary learns and is scored on the mapped types only: AGE, JOB, ... are O on both sides.
    assert set(report["comparison"]["dictionary"]["types"]) == {"PER", "LOC", "DATE"}
    with pytest.raises(SystemExit) as exit_:
        main(["--data", str(data), "--label-map", "NAME", "--baselines", "dictionary"])
    assert exit_.value.code == 2 and "SOURCE=TARGET" in capsys.readouterr().err
