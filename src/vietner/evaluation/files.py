"""Reading what is scored: predictions files (CoNLL with gold and predicted columns) and the gold articles."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..corpus import (
    SPLITS,
    CorpusFormatError,
    Sentence,
    read_conll,
    read_corpus,
)


def read_predictions(path: str | os.PathLike) -> tuple[list[Sentence], list[list[str]]]:
    """Read CoNLL with gold and predicted tags as the last two columns (``TOKEN ... GOLD PRED``).

    ``# sent_id = `` / ``# text = `` comments are kept, other comments and ``-DOCSTART-`` lines skipped.
    Returns the gold sentences and the predicted tags. Raises ``CorpusFormatError`` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    sentences: list[Sentence] = []
    predicted: list[list[str]] = []
    tokens: list[str] = []
    gold: list[str] = []
    pred: list[str] = []
    meta: dict[str, str] = {}
    first = 0

    def flush() -> None:
        nonlocal tokens, gold, pred, meta, first
        if tokens:
            sent_id = meta.get("sent_id", f"{path.stem}-{len(sentences) + 1}")
            sentences.append(Sentence(tuple(tokens), tuple(gold), sent_id, meta.get("text", ""), first))
            predicted.append(pred)
        tokens, gold, pred, meta, first = [], [], [], {}, 0

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("#") and not tokens:
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() in ("sent_id", "text"):
                meta[key.strip()] = value.strip() if key.strip() == "sent_id" else value.removeprefix(" ")
            continue
        if line.startswith("-DOCSTART-"):
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) < 3 or not all(c.strip() for c in columns[-2:]):
            raise CorpusFormatError(f"{path}:{number}: expected TOKEN<TAB>GOLD<TAB>PRED, got {line!r}")
        first = first or number
        tokens.append(columns[0])
        gold.append(columns[-2].strip())
        pred.append(columns[-1].strip())
    flush()
    if not sentences:
        raise CorpusFormatError(f"{path}: no sentences")
    return sentences, predicted


def format_predictions(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]]) -> str:
    """CoNLL text with ``TOKEN<TAB>GOLD<TAB>PRED`` lines, readable by :func:`read_predictions` and conlleval."""
    blocks = []
    for sentence, tags in zip(sentences, pred):
        lines = [f"# sent_id = {sentence.sent_id}"] if sentence.sent_id else []
        if sentence.text:
            lines.append(f"# text = {sentence.text}")
        lines.extend(f"{t}\t{g}\t{p}" for t, g, p in zip(sentence.tokens, sentence.tags, tags))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def load_articles(data_dir: str | os.PathLike = "data/annotated") -> dict[str, list[Sentence]]:
    """The gold sentences of every article: ``{article id: sentences}`` from ``DATA_DIR/*.conll``."""
    files = sorted(Path(data_dir).glob("*.conll"))
    if not files:
        raise CorpusFormatError(f"{data_dir}: no .conll files")
    return {f.stem: read_conll(f) for f in files}


def load_split(split: str, data_dir: str | os.PathLike = "data/annotated", splits_file: str | os.PathLike = "data/splits.json") -> list[Sentence]:
    """The gold sentences of ``split`` (``train``/``dev``/``test``) as ``splits_file`` lists them."""
    if split not in SPLITS:
        raise CorpusFormatError(f"no split {split!r}; choose one of {', '.join(SPLITS)}")
    return read_corpus(data_dir, splits_file)[split]
