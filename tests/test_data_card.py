"""The data card: counts per split and per article, generated deterministically from the files."""

import json
from collections import Counter
from pathlib import Path

from seqeval.metrics.sequence_labeling import get_entities

from vietner.data_card import build_card
from vietner.cli.data import main

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


def test_card_command_overwrites_and_check_fails_once_the_corpus_changes(tmp_path, capsys):
    data = _data(tmp_path)
    out = data / "README.md"
    out.write_text("stale\n", encoding="utf-8")
    assert main(["card", "--data", str(data), "--check"]) == 1
    assert main(["card", "--data", str(data)]) == 0
    written = out.read_bytes()
    assert main(["card", "--data", str(data), "--check"]) == 0
    assert main(["card", "--data", str(data)]) == 0
    assert out.read_bytes() == written  # nothing in it but the data: no date, no unordered set
    # One more entity in the corpus: the committed card no longer describes it.
    conll = data / "annotated/b.conll"
    conll.write_text(conll.read_text(encoding="utf-8").replace("họp\tO", "họp\tB-DATE"), encoding="utf-8")
    assert main(["card", "--data", str(data), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


def _independent_counts(paths: list[Path]) -> list[int]:
    """Sentences, tokens and entities per type (card order) counted from the raw lines, not via vietner."""
    sentences = tokens = 0
    entities: Counter[str] = Counter()
    for path in paths:
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            tags = [line.split("\t")[1] for line in block.splitlines() if line and not line.startswith("# ")]
            if tags:
                sentences += 1
                tokens += len(tags)
                entities.update(kind for kind, _, _ in get_entities(tags))
    types = ["PER", "ORG", "LOC", "MONEY", "DATE"]
    assert set(entities) <= set(types), "the repository corpus has a type the card does not list"
    return [sentences, tokens] + [entities[t] for t in types] + [sum(entities.values())]


def test_repository_card_counts_match_the_conll_files():
    card = build_card(REPO / "data")
    splits = json.loads((REPO / "data/splits.json").read_text(encoding="utf-8"))
    for split, stems in splits.items():
        counts = _independent_counts([REPO / "data/annotated" / f"{stem}.conll" for stem in stems])
        row = f"| {split} | {len(stems)} | " + " | ".join(map(str, counts)) + " |"
        assert row in card, row


def test_card_command_reports_bad_data_in_one_line(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "annotated/b.conll").write_text("Hà\tI-LOC\n", encoding="utf-8")
    assert main(["card", "--data", str(data)]) == 2  # bad input: a usage error, as in every command
    assert capsys.readouterr().err.strip().endswith("b.conll:1: I-LOC follows O, not B-LOC or I-LOC (broken IOB2) (pass scheme='IOB1' for IOB1 files)")


# The committed card must match the committed data: regenerate it with `python -m vietner.data card`.
def test_repository_card_is_up_to_date():
    card = REPO / "data/README.md"
    assert card.is_file(), "no data card: run python -m vietner.data card"
    assert card.read_text(encoding="utf-8") == build_card(REPO / "data"), "stale: run python -m vietner.data card"
