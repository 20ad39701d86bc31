import pytest

from vietner.metrics import entity_scores, f1, score_modes

GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"],
    ["B-ORG", "O", "B-MONEY", "I-MONEY", "O", "B-DATE"],
]


def test_perfect_prediction_scores_one_with_support():
    scores = entity_scores(GOLD, GOLD, "strict")
    assert scores["overall"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 5}
    assert set(scores["per_type"]) == {"PER", "LOC", "ORG", "MONEY", "DATE"}
    assert all(row["support"] == 1 and row["f1"] == 1.0 for row in scores["per_type"].values())


def test_entity_level_not_token_level():
    # one token of LOC wrong: 4 of 5 entities right; token accuracy would be 10/11
    pred = [GOLD[0][:4] + ["O"], GOLD[1]]
    overall = entity_scores(GOLD, pred, "strict")["overall"]
    assert overall["precision"] == pytest.approx(4 / 5)
    assert overall["recall"] == pytest.approx(4 / 5)
    assert entity_scores(GOLD, pred, "strict")["per_type"]["LOC"]["f1"] == 0.0


def test_strict_and_default_modes_differ_on_a_stray_inside_tag():
    # "I-LOC I-LOC" without B-: default (conlleval) mode counts an entity, IOB2 strict mode does not
    pred = [["B-PER", "I-PER", "O", "I-LOC", "I-LOC"], GOLD[1]]
    both = score_modes(GOLD, pred)
    assert both["default"]["overall"]["f1"] == 1.0
    assert both["strict"]["overall"]["recall"] == pytest.approx(4 / 5)
    assert f1(both, "strict") < f1(both, "default")


def test_false_positive_type_listed_with_zero_support():
    gold = [["O", "O", "B-LOC"]]
    pred = [["B-PER", "O", "B-LOC"]]
    scores = entity_scores(gold, pred, "strict")
    assert scores["per_type"]["PER"]["support"] == 0
    assert scores["per_type"]["PER"]["precision"] == 0.0
    assert scores["overall"]["precision"] == pytest.approx(0.5)
    assert scores["overall"]["recall"] == 1.0


def test_no_entities_anywhere_is_zero_not_an_error():
    assert entity_scores([["O", "O"]], [["O", "O"]])["overall"]["f1"] == 0.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_scores([["O", "B-PER"]], [["O"]])
    with pytest.raises(ValueError, match="gold sentences"):
        entity_scores([["O"]], [])


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode"):
        entity_scores(GOLD, GOLD, "lenient")
