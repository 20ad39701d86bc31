"""The corpus: its splits (``splits.json``), the sentences of each, and ``datasets`` conversion.

The gold corpus is one CoNLL file per article (:mod:`vietner.conll` reads and writes them) and
``splits.json`` naming the articles of train, dev and test. Every reader ends in the same
``datasets.Dataset`` shape (``FEATURES``): ``sent_id``, ``tokens`` and string ``tags`` columns.
``Sentence``, ``CorpusFormatError``, the CoNLL reader and writer are re-exported here, where callers
import them from.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, Features, Sequence, Value

# Re-exported: callers import the sentence, the CoNLL reader and writer and these helpers from here.
from .conll import ConllRead, format_conll, read_conll, read_conll_columns, read_conll_problems, write_conll
from .schema import iob1_to_iob2, iob2_problem, map_tags, types_of
from .sentence import CorpusFormatError, Sentence, check_tags
from .storage import atomic_write_text

__all__ = [
    "Sentence",
    "CorpusFormatError",
    "FEATURES",
    "SPLITS",
    "read_conll",
    "read_conll_problems",
    "ConllRead",
    "read_conll_columns",
    "check_tags",
    "apply_label_map",
    "write_conll",
    "format_conll",
    "iob1_to_iob2",
    "iob2_problem",
    "atomic_write_text",
    "read_splits",
    "read_corpus",
    "to_dataset",
    "from_dataset",
    "load_corpus",
    "load_conll",
]

SPLITS = ("train", "dev", "test")
# The one shape every reader returns, so training and evaluation never care where the data came from.
FEATURES = Features(
    {"sent_id": Value("string"), "tokens": Sequence(Value("string")), "tags": Sequence(Value("string"))}
)


def apply_label_map(
    sentences: Seq[Sentence], label_map: dict[str, str] | None, where: str
) -> tuple[list[Sentence], list[str]]:
    """Return ``sentences`` with their entity types renamed by ``label_map`` (a type it does not name
    becomes ``O``; None keeps every type), and a one-line warning naming ``where`` for each map key that
    never occurs in them (a misspelt type would otherwise silently turn into ``O``)."""
    if label_map is None:
        return list(sentences), []
    found = types_of(tag for sentence in sentences for tag in sentence.tags)
    notes = [
        f"{where}: label map key {key!r} never occurs there (its types: {', '.join(found) or 'none'})"
        for key in label_map
        if key not in found
    ]
    return [dataclasses.replace(s, tags=tuple(map_tags(s.tags, label_map))) for s in sentences], notes


def read_splits(splits_file: str | os.PathLike) -> dict[str, list[str]]:
    """Read ``splits.json``: ``{"train": [stem, ...], "dev": [...], "test": [...]}``, each stem once."""
    path = Path(splits_file)
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CorpusFormatError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CorpusFormatError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if not isinstance(splits, dict) or sorted(splits) != sorted(SPLITS):
        raise CorpusFormatError(f"{path}:1: expected an object with exactly the keys {', '.join(SPLITS)}")
    seen: dict[str, str] = {}
    for split in SPLITS:
        stems = splits[split]
        if not isinstance(stems, list) or not all(isinstance(stem, str) for stem in stems):
            raise CorpusFormatError(f"{path}:1: {split!r} must be a list of article stems")
        for stem in stems:
            if stem in seen:
                raise CorpusFormatError(f"{path}:1: {stem!r} is listed in both {seen[stem]!r} and {split!r}")
            seen[stem] = split
    return {split: list(splits[split]) for split in SPLITS}


def read_corpus(data_dir: str | os.PathLike, splits_file: str | os.PathLike) -> dict[str, list[Sentence]]:
    """Read the gold corpus: the sentences of each split, from ``<data_dir>/<stem>.conll`` per article."""
    return {
        split: [sentence for stem in stems for sentence in read_conll(Path(data_dir) / f"{stem}.conll")]
        for split, stems in read_splits(splits_file).items()
    }


def to_dataset(sentences: Iterable[Sentence]) -> Dataset:
    """Return ``sentences`` as a ``datasets.Dataset`` with ``sent_id``, ``tokens`` and ``tags`` columns."""
    sentences = list(sentences)
    return Dataset.from_dict(
        {
            "sent_id": [sentence.sent_id for sentence in sentences],
            "tokens": [list(sentence.tokens) for sentence in sentences],
            "tags": [list(sentence.tags) for sentence in sentences],
        },
        features=FEATURES,
    )


def load_corpus(
    data_dir: str | os.PathLike = "data/annotated", splits_file: str | os.PathLike = "data/splits.json"
) -> DatasetDict:
    """Load the gold corpus as a ``DatasetDict`` with ``train``, ``dev`` and ``test`` splits."""
    return DatasetDict({split: to_dataset(sentences) for split, sentences in read_corpus(data_dir, splits_file).items()})


def load_conll(paths: str | os.PathLike | Iterable[str | os.PathLike], scheme: str = "IOB2") -> Dataset:
    """Load one or more CoNLL files of your own (``TOKEN<TAB>...<TAB>TAG``, IOB2 or IOB1) as a ``Dataset``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return to_dataset(sentence for path in paths for sentence in read_conll(path, scheme))


def from_dataset(dataset: Dataset) -> list[Sentence]:
    """Return the sentences of a dataset in this project's shape (the inverse of :func:`to_dataset`)."""
    return [Sentence(tuple(t), tuple(g), i) for i, t, g in zip(dataset["sent_id"], dataset["tokens"], dataset["tags"])]


def __getattr__(name: str) -> Any:
    # Kept for one release: from_hf_dataset lives in vietner.formats (with the other dataset readers), a
    # module above this one, so it is imported on demand.
    if name == "from_hf_dataset":
        from .formats import from_hf_dataset

        return from_hf_dataset
    raise AttributeError(f"module 'vietner.corpus' has no attribute {name!r}")
