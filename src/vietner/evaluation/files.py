"""Reading what is scored: predictions files (CoNLL with gold and predicted columns) and the gold articles."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..corpus import (
    SPLITS,
    CorpusFormatError,
    Sentence,
    format_conll,
    read_conll,
    read_corpus,
)


def read_predictions(path: str | os.PathLike, scheme: str = "IOB2") -> tuple[list[Sentence], list[list[str]]]:
    """Read CoNLL with gold and predicted tags as the last two columns (``TOKEN ... GOLD PRED``).

    The corpus reader with ``predictions=True`` (see :func:`vietner.corpus.read_conll`): comments, BOM,
    line ends and NFC are handled as for any CoNLL file. Returns the gold sentences and the predicted
    tags. Raises ``CorpusFormatError`` naming ``file:line``, and for a file with no sentences.
    """
    sentences, predicted = read_conll(path, scheme, predictions=True)
    if not sentences:
        raise CorpusFormatError(f"{path}: no sentences")
    return sentences, predicted


def format_predictions(sentences: Sequence[Sentence], pred: Sequence[Sequence[str]]) -> str:
    """CoNLL text with ``TOKEN<TAB>GOLD<TAB>PRED`` lines, readable by :func:`read_predictions` and conlleval."""
    return format_conll(sentences, predictions=pred)


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
