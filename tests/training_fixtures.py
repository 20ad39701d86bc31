"""Training test data and train.py runs shared by the tests: a synthetic corpus of the five types, the
tiny settings, and train.py's main() called in this process."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from accelerate.state import AcceleratorState, GradientState

from vietner.corpus import Sentence, write_conll

ROOT = Path(__file__).parent.parent
PERSONS = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Kang Kum-Sil", "Đinh Tiến Dũng", "Park Won-soon"]
PLACES = ["Hà Nội", "Hàn Quốc", "Đà Nẵng", "Seoul", "Gyeonggi", "Việt Nam"]
ORGS = ["UBND TP Hà Nội", "Bộ Tài chính", "Công ty Samsung", "Thành ủy"]
MONEY = ["2,34 tỷ USD", "95 triệu đồng", "120 triệu euro"]
DATES = ["7/9", "ngày 21/10", "năm 2023", "20-22/11/2019"]
TEMPLATES = [
    "Ông {PER} đến {LOC} vào {DATE} .",
    "{ORG} chi {MONEY} cho {LOC} .",
    "Bà {PER} làm việc tại {ORG} từ {DATE} .",
    "Đoàn đại biểu {LOC} thăm {LOC} và gặp {PER} .",
    "Thu hút vốn đạt {MONEY} trong {DATE} .",
]
FILLERS = {"PER": PERSONS, "LOC": PLACES, "ORG": ORGS, "MONEY": MONEY, "DATE": DATES}


def synthetic_sentence(rng: random.Random, sent_id: str, template: str | None = None) -> Sentence:
    tokens, tags = [], []
    for part in (template or rng.choice(TEMPLATES)).split():
        if part.startswith("{"):
            kind = part[1:-1]
            words = rng.choice(FILLERS[kind]).split()
            tokens += words
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)
        else:
            tokens.append(part)
            tags.append("O")
    return Sentence(tuple(tokens), tuple(tags), sent_id, " ".join(tokens))


def long_sentence(rng: random.Random, sent_id: str, clauses: int) -> Sentence:
    """One sentence of ``clauses`` clauses joined by commas: longer than PhoBERT's 256 tokens."""
    parts = [synthetic_sentence(rng, sent_id) for _ in range(clauses)]
    tokens = [t for p in parts for t in p.tokens[:-1] + (",",)]
    tags = [t for p in parts for t in p.tags[:-1] + ("O",)]
    return Sentence(tuple(tokens), tuple(tags), sent_id, " ".join(tokens))


def write_corpus(directory: Path, train: int = 40, dev: int = 13, test: int = 9, long_clauses: int = 100) -> dict[str, Path]:
    """Write train/dev/test CoNLL files; dev and train each hold one sentence of several hundred syllables."""
    rng = random.Random(0)
    sizes = {"train": train, "dev": dev, "test": test}
    files = {}
    for split, size in sizes.items():
        sentences = [synthetic_sentence(rng, f"{split}-{i}") for i in range(size)]
        if split in ("train", "dev") and long_clauses:
            sentences.append(long_sentence(rng, f"{split}-long", long_clauses))
        files[split] = directory / f"{split}.conll"
        write_conll(sentences, files[split])
    return files


def tiny_args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    settings = [
        f"data.train_file={files['train']}",
        f"data.dev_file={files['dev']}",
        f"data.test_file={files['test']}",
        f"output_dir={out}",
        "model.scratch.hidden_size=32",
        "model.scratch.num_hidden_layers=1",
        "model.scratch.num_attention_heads=2",
        "model.scratch.intermediate_size=64",
        "train.batch_size=8",
        "train.eval_batch_size=5",
        "train.lr=3e-3",
        "train.epochs=3",
        "train.score_train_split=true",
    ]
    args = ["--config", str(ROOT / "configs" / "tiny.yaml")]
    for setting in settings + list(extra):
        args += ["--set", setting]
    return args


def load_train_module():
    """train.py as a module, so tests call its main() in-process."""
    spec = importlib.util.spec_from_file_location("vietner_train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus_with_long_sentences(directory: Path) -> dict[str, Path]:
    """train/dev/test CoNLL files; dev and test each hold a sentence of several hundred syllables."""
    rng = random.Random(7)
    files = {}
    for split, size in (("train", 40), ("dev", 12), ("test", 12)):
        sentences = [synthetic_sentence(rng, f"{split}-{i}") for i in range(size)]
        sentences.append(long_sentence(rng, f"{split}-long", 60))
        files[split] = directory / f"{split}.conll"
        write_conll(sentences, files[split])
    return files


def run_train(module, args: list[str]) -> int:
    """Call train.py's ``main(args)`` with accelerate's process-wide state reset around it."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    try:
        return module.main(args)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def free_port() -> int:
    """A TCP port nothing listens on now (for a two-process launch's rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
