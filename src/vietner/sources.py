"""Where training data comes from: the train/dev/test splits of a config, pooled ``extra_train`` files, label
maps applied, the per-source counts of ``metrics.json``, and the model's label list.

Each source is read as sentences (syllables + IOB2 tags) with its own reading options (format, tag column,
word tokens, scheme; see :mod:`vietner.formats`) and label map; files are joined as sentences, never as text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from datasets import Dataset, DatasetDict, concatenate_datasets

from .config import DataConfig, ReadOptions, warn
from .corpus import SPLITS, CorpusFormatError, Sentence, apply_label_map, read_corpus, to_dataset
from .encoding import Preprocessor
from .formats import describe_tokens, read_source
from .schema import entity_type, types_of

__all__ = ["DataError", "SPLITS", "load_splits", "source_counts", "format_sources", "training_types", "train_words"]



class DataError(ValueError):
    """Training data that cannot be used; the message is one line saying what and where."""


def load_splits(data: DataConfig, reading: dict[str, dict[str, Any]] | None = None) -> DatasetDict:
    """Return the train/dev/test sentences (``sent_id``, ``tokens``, ``tags`` columns) named by ``data``.

    Either the project corpus (``data.dir`` + ``data.splits``) or the user's own three files (read with
    ``data``'s reading options, see :mod:`vietner.formats`), with ``data.label_map`` applied to all three.
    The training split then gets the sentences of each ``data.extra_train`` file, read on its own with its
    options and label map (files are joined as sentences, never as text); its ``source`` column says where
    each came from (0: the train split, ``i``: ``extra_train[i - 1]``). How each file was read (format,
    word tokens split) goes into ``reading`` by config key. A map key that never occurs in its data, a
    type an extra file brings that train/dev/test lack, another tag column holding more entities, or
    repaired tags, is a one-line warning. Raises ``CorpusFormatError`` for a missing or unreadable file
    (naming its config key) and ``DataError`` for an empty split.
    """
    reading = {} if reading is None else reading
    splits, sources = _primary_splits(data, reading)
    for split in SPLITS:
        if not splits[split]:
            raise DataError(f"the {split} split is empty: no sentences in {sources[split]}")
    primary_types = set(types_of(t for sentences in splits.values() for s in sentences for t in s.tags))
    parts = [to_dataset(splits["train"])]
    for i, source in enumerate(data.extra_train):
        key = f"data.extra_train[{i}]"
        sentences = _read_source(source.path, source, source.label_map, key, reading)
        # The types it can bring: its map's targets, or without a map every type of the file.
        targets = source.label_map.values() if source.label_map is not None else types_of(t for s in sentences for t in s.tags)
        brought = set(targets) - {"O"}
        if brought - primary_types:
            warn(f"{key}: type(s) {', '.join(sorted(brought - primary_types))} occur nowhere in the train/dev/test data: "
                 "the model learns them but they are never scored (map them to O to drop them)")
        parts.append(to_dataset(sentences))
    train = concatenate_datasets([part.add_column("source", [i] * len(part)) for i, part in enumerate(parts)])
    return DatasetDict({"train": train, "dev": to_dataset(splits["dev"]), "test": to_dataset(splits["test"])})


def _primary_splits(data: DataConfig, reading: dict[str, dict[str, Any]]) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """The train/dev/test sentences with ``data.label_map`` applied, and where each split came from."""
    if data.train_file:
        files = {"train": data.train_file, "dev": data.dev_file, "test": data.test_file}
        splits = {split: _read_source(path, data, data.label_map, f"data.{split}_file", reading) for split, path in files.items()}
        return splits, {split: str(path) for split, path in files.items()}
    corpus = read_corpus(data.dir, data.splits)
    # One warning per unused key for the whole corpus, not one per split.
    for note in apply_label_map([s for split in SPLITS for s in corpus[split]], data.label_map, data.dir)[1]:
        warn(note)
    splits = {split: apply_label_map(corpus[split], data.label_map, data.dir)[0] for split in SPLITS}
    return splits, {split: f"the {split!r} articles of {data.splits}" for split in SPLITS}


def _read_source(
    path: str, options: ReadOptions, label_map: dict[str, str] | None, key: str, reading: dict[str, dict[str, Any]]
) -> list[Sentence]:
    """Read one file of the config key ``key`` and apply its label map, warning of what went unseen; how it
    was read goes into ``reading[key]``."""
    try:
        read = read_source(path, options)
    except CorpusFormatError as error:
        raise CorpusFormatError(f"{key}: {error}") from None
    mapped, notes = apply_label_map(read.sentences, label_map, str(path))
    for note in [f"{key}: {note}" for note in read.notes] + notes:
        warn(note)
    reading[key] = {"format": read.format, "tokens_setting": read.tokens_setting, "tokens": read.tokens,
                    "tokens_split": read.tokens_split, "tags_repaired": len(read.repaired)}
    return mapped


def source_counts(splits: DatasetDict, data: DataConfig, reading: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Sentences and entities (by type, after label maps) of each source of the training split, then of
    dev and test, with how each file was read (``reading`` from :func:`load_splits`): the ``sources``
    entry of ``metrics.json``."""
    names = [("data.train_file", data.train_file) if data.train_file else ("data.dir", f"{data.dir} ({data.splits})")]
    names += [(f"data.extra_train[{i}]", source.path) for i, source in enumerate(data.extra_train)]
    train = splits["train"]
    rows = [
        _counts("train", key, path, [tags for tags, source in zip(train["tags"], train["source"]) if source == i])
        for i, (key, path) in enumerate(names)
    ]
    for split in ("dev", "test"):
        key, path = (f"data.{split}_file", getattr(data, f"{split}_file")) if data.train_file else names[0]
        rows.append(_counts(split, key, path, splits[split]["tags"]))
    return [{**row, **(reading or {}).get(row["source"], {})} for row in rows]


def _counts(split: str, key: str, path: str, sentences_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    found = Counter(entity_type(tag) for tags in sentences_tags for tag in tags if tag.startswith("B-"))
    entities = {kind: found[kind] for kind in types_of(f"B-{kind}" for kind in found)}
    return {"split": split, "source": key, "path": path, "sentences": len(sentences_tags),
            "entities": sum(entities.values()), "by_type": entities}


def format_sources(rows: Sequence[dict[str, Any]]) -> str:
    """The log lines of :func:`source_counts`: one per source."""
    return "\n".join(
        f"{row['split']} <- {row['source']} {row['path']}: {row['sentences']} sentences, {row['entities']} entities"
        + (f" ({', '.join(f'{kind} {n}' for kind, n in row['by_type'].items())})" if row["by_type"] else "")
        + (f"; {row['format']}, {describe_tokens(row['tokens_setting'], row['tokens'], row['tokens_split'])}" if "tokens" in row else "")
        for row in rows
    )


def training_types(splits: DatasetDict) -> list[str]:
    """Return the entity types of the training split, the types a model trained on ``splits`` learns (its
    labels: ``schema.labels_for`` of them).

    Raises ``DataError`` naming the sentence when dev or test holds a type that training never saw (the
    model could never predict it, so its score would silently be zero).
    """
    types = {t for tags in splits["train"]["tags"] for t in map(entity_type, tags) if t}
    for split in ("dev", "test"):
        for sent_id, tags in zip(splits[split]["sent_id"], splits[split]["tags"]):
            for tag in tags:
                if tag != "O" and entity_type(tag) not in types:
                    raise DataError(f"label {tag!r} in {split} sentence {sent_id!r} never occurs in the training split")
    return sorted(types)


def train_words(dataset: Dataset, preprocessor: Preprocessor) -> list[list[tuple[int, int]]]:
    """Return the word spans of each training sentence, split at gold entity boundaries."""
    return preprocessor.words_many(dataset["tokens"], dataset["tags"])
