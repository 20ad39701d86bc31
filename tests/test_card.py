"""The data card: counts per split and per article, generated deterministically from the files."""

import json
from pathlib import Path

from vietner.card import build_card
from vietner.data import main

from test_validate import CONLL_A, CONLL_B

REPO = Path(__file__).resolve().parents[1]


def _data(tmp_path: Path) -> Path:
    (tmp_path / "annotated").mkdir()
    (tmp_path / "annotated/a.conll").write_text(CONLL_A, encoding="utf-8")
    (tmp_path / "annotated/b.conll").write_text(CONLL_B, encoding="utf-8")
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"], "dev": [], "test": ["b"]}), encoding="utf-8")
    return tmp_path


def test_card_counts(tmp_path):
    card = build_card(_data(tmp_path))
    # Counted by hand from CONLL_A (2 sentences, 7 + 11 tokens, LOC PER MONEY DATE) and CONLL_B (1, 6, ORG).
    assert "| split | articles | sentences | tokens | PER | ORG | LOC | MONEY | DATE | entities |" in card
    assert "| train | 1 | 2 | 18 | 1 | 0 | 1 | 1 | 1 | 4 |" in card
    assert "| dev | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in card
    assert "| test | 1 | 1 | 6 | 0 | 1 | 0 | 0 | 0 | 1 |" in card
    assert "| **total** | 2 | 3 | 24 | 1 | 1 | 1 | 1 | 1 | 5 |" in card
    assert "| `a` | train | 2 | 18 | 1 | 0 | 1 | 1 | 1 | 4 |" in card
    assert "| `b` | test | 1 | 6 | 0 | 1 | 0 | 0 | 0 | 1 |" in card


def test_card_is_deterministic_and_the_command_overwrites_it(tmp_path, capsys):
    data = _data(tmp_path)
    out = data / "README.md"
    out.write_text("stale\n", encoding="utf-8")
    assert main(["card", "--data", str(data), "--check"]) == 1
    assert main(["card", "--data", str(data)]) == 0
    assert out.read_text(encoding="utf-8") == build_card(data) == build_card(data)
    assert main(["card", "--data", str(data), "--check"]) == 0


def test_card_command_reports_bad_data_in_one_line(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "annotated/b.conll").write_text("Hà\tI-LOC\n", encoding="utf-8")
    assert main(["card", "--data", str(data)]) == 1
    assert capsys.readouterr().err.strip().endswith("b.conll:1: I-LOC follows O, not B-LOC or I-LOC (broken IOB2) (pass scheme='IOB1' for IOB1 files)")


# The committed card must match the committed data: regenerate it with `python -m vietner.data card`.
def test_repository_card_is_up_to_date():
    card = REPO / "data/README.md"
    assert card.is_file(), "no data card: run python -m vietner.data card"
    assert card.read_text(encoding="utf-8") == build_card(REPO / "data"), "stale: run python -m vietner.data card"
