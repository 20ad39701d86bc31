"""Labelled-sentence file formats: CoNLL columns (``tag_column``), JSON lines, Parquet and ``save_to_disk``
folders; word tokens to syllables.

Public Vietnamese NER corpora come in several shapes: tags in another column than the last (VLSP 2018's
nested levels), word-segmented tokens (``Hà_Nội``, or VLSP 2016's ``Phước Sơn`` with a space inside),
``{"words": [...], "tags": [...]}`` lines, datasets with int ``ClassLabel`` tags. :func:`read_source` reads
any of them, one reader per format, into the same :class:`~vietner.corpus.Sentence` records, in
syllables, so every source of a run reaches the segmenter alike. CoNLL goes through the corpus's one
reader (:func:`vietner.conll.read_conll_columns`), datasets through :func:`dataset_rows`, as
:func:`from_hf_dataset` converts one in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict

from .config import ReadOptions
from .conll import read_conll_columns
from .corpus import FEATURES
from .sentence import CorpusFormatError, Sentence, check_tags, is_tag, read_data_text
from .schema import check_scheme, nfc, types_of
from .spans import entities

__all__ = [
    "SourceRead",
    "describe_tokens",
    "TagLayer",
    "file_format",
    "is_saved_dataset",
    "read_source",
    "read_jsonl",
    "read_dataset",
    "dataset_rows",
    "from_hf_dataset",
    "syllables",
    "to_syllables",
    "tag_layers",
    "layer_warning",
    "add_reading_arguments",
    "reading_options",
]

TOKEN_KEYS = ("words", "tokens")
TAG_KEYS = ("tags", "ner_tags")
# A token where "_" is no join between syllables: an e-mail address, a URL, a handle or hashtag, "__", or a
# "_" at either end. Anything else with a "_" is a word whose syllables it joins (Hà_Nội, Thành_phố).
_NOT_A_JOIN = re.compile(r"@|://|^www\.|^#|__|^_|_$", re.IGNORECASE)
# "auto" reads a file as words when at least this share of its tokens are joined syllables: a word-segmented
# Vietnamese text has far more (about a third), a syllable file only the odd identifier.
WORD_SHARE = 0.01
# Phrase labels of chunk columns (VLSP 2016's B-NP, CoNLL-2000's): tag-shaped, but no entity layer.
CHUNK_TYPES = frozenset({"NP", "VP", "AP", "PP", "ADJP", "ADVP", "SBAR", "PRT", "INTJ", "CONJP", "LST", "UCP", "QP", "RP",
                         "WHNP", "WHPP", "WHADVP", "WHADJP"})


@dataclass(frozen=True)
class TagLayer:
    """A CoNLL column that reads as NER tags (``O``/``B-X``/``I-X``, mostly ``O``): its entities by type."""

    column: int
    entities: int
    by_type: dict[str, int]

    def __str__(self) -> str:
        types = ", ".join(f"{kind} {n}" for kind, n in self.by_type.items()) or "no types"
        return f"column {self.column}: {self.entities} entities ({types})"


@dataclass
class SourceRead:
    """The sentences of one file and how they were read."""

    sentences: list[Sentence]
    format: str
    # "words" when word tokens were split into syllables, else "syllables"; the setting that decided it.
    tokens: str = "syllables"
    tokens_setting: str = "auto"
    tokens_split: int = 0
    repaired: list[str] = field(default_factory=list)  # file:line (or file row N) of each stray I- read as B-
    layers: list[TagLayer] = field(default_factory=list)  # CoNLL: every NER-like tag column
    notes: list[str] = field(default_factory=list)  # one-line warnings

    def describe(self) -> str:
        """How the tokens were read, for the source's log line."""
        return describe_tokens(self.tokens_setting, self.tokens, self.tokens_split)


def describe_tokens(setting: str, unit: str, split: int) -> str:
    """``tokens: auto -> words, 12 word tokens split into syllables``: the setting, what it read, the count."""
    return f"tokens: {setting} -> {unit}" + (f", {split} word tokens split into syllables" if unit == "words" else "")


def file_format(path: str | os.PathLike, format: str = "auto") -> str:
    """The format of ``path``: ``format`` unless it is ``auto``; then a ``save_to_disk`` folder is ``disk``,
    ``.jsonl``/``.json`` JSON lines, ``.parquet`` Parquet, anything else CoNLL."""
    if format != "auto":
        return format
    path = Path(path)
    if is_saved_dataset(path):
        return "disk"
    return {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}.get(path.suffix.lower(), "conll")


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """True for a folder ``save_to_disk`` wrote (a dataset, or a dataset dict of splits)."""
    return any((Path(path) / name).is_file() for name in ("state.json", "dataset_dict.json"))


def read_source(path: str | os.PathLike, options: ReadOptions) -> SourceRead:
    """Read one file of labelled sentences as ``options`` say, in syllables; raise ``CorpusFormatError``
    (one line naming the file and line, row or key) for anything that cannot be read."""
    fmt = file_format(path, options.format)
    repair = options.on_invalid_tag == "repair"
    layers: list[TagLayer] = []
    notes: list[str] = []
    if fmt == "conll":
        if options.token_key or options.tag_key:
            raise CorpusFormatError(f"{path}: token_key and tag_key name JSON or dataset keys; a CoNLL file's tags are chosen with tag_column")
        read = read_conll_columns(path, options.scheme, options.tag_column, repair)
        sentences, repaired = read.sentences, [f"{path}:{line}" for line in read.repaired]
        layers = tag_layers(read.columns)
        warning = layer_warning(path, layers, _read_column(read.columns, options.tag_column), sentences)
        notes += [warning] if warning else []
    else:
        if options.tag_column is not None:
            raise CorpusFormatError(f"{path}: tag_column applies to CoNLL files; name the tags of a {fmt} file with tag_key")
        reader = read_jsonl if fmt == "jsonl" else read_dataset
        sentences, repaired = reader(path, options.scheme, options.token_key, options.tag_key, repair, fmt)
    sentences, unit, split = to_syllables(sentences, options.tokens)
    if repaired:
        shown = ", ".join(repaired[:5]) + (", ..." if len(repaired) > 5 else "")
        notes.append(f"{path}: {len(repaired)} stray I- tag(s) read as B- (on_invalid_tag: repair): {shown}")
    return SourceRead(sentences, fmt, unit, options.tokens, split, repaired, layers, notes)


def _key(keys: Iterable[str], given: str | None, defaults: Sequence[str], what: str, where: str) -> str:
    """The key (column) holding ``what``: ``given``, else the first of ``defaults`` present."""
    keys = list(keys)
    wanted = [given] if given else list(defaults)
    found = next((key for key in wanted if key in keys), None)
    if found is None:
        setting = "token_key" if what == "tokens" else "tag_key"
        raise CorpusFormatError(f"{where}: no key {' or '.join(map(repr, wanted))} for the {what} "
                                f"(keys: {', '.join(map(str, keys)) or 'none'}); name it with {setting}")
    return found


def _sentence(tokens: Any, tags: Any, sent_id: str, text: str, where: str, scheme: str, repair: bool) -> tuple[Sentence, list[int]]:
    """A sentence from one record's tokens and string tags, checked; the indices of repaired tags."""
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t.strip() for t in tokens):
        raise CorpusFormatError(f"{where}: tokens must be a list of non-empty strings")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CorpusFormatError(f"{where}: tags must be a list of strings (int tags need a dataset's ClassLabel names)")
    if len(tokens) != len(tags):
        raise CorpusFormatError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
    tags, problems, repaired = check_tags(tags, scheme, repair)
    if problems:
        raise CorpusFormatError(f"{where}, token {problems[0][0]}: {problems[0][1]}")
    return Sentence(tuple(nfc(t) for t in tokens), tuple(tags), sent_id, nfc(text)), repaired


def read_jsonl(
    path: str | os.PathLike, scheme: str = "IOB2", token_key: str | None = None, tag_key: str | None = None,
    repair: bool = False, fmt: str = "jsonl",
) -> tuple[list[Sentence], list[str]]:
    """Read JSON lines, one ``{"words": [...], "tags": [...]}`` object per sentence (keys ``token_key`` and
    ``tag_key``; default ``words``/``tokens`` and ``tags``/``ner_tags``; ``sent_id``/``id`` and ``text``
    kept when present). Returns the sentences and the ``file:line`` of each repaired tag."""
    path = Path(path)
    sentences: list[Sentence] = []
    repaired: list[str] = []
    for number, line in enumerate(read_data_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusFormatError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise CorpusFormatError(f"{where}: expected a JSON object per line")
        tokens = record[_key(record, token_key, TOKEN_KEYS, "tokens", where)]
        tags = record[_key(record, tag_key, TAG_KEYS, "tags", where)]
        sent_id = str(record.get("sent_id", record.get("id", f"{path.stem}-{len(sentences) + 1}")))
        sentence, fixed = _sentence(tokens, tags, sent_id, str(record.get("text", "")), where, scheme, repair)
        sentences.append(sentence)
        repaired += [where] * len(fixed)
    return sentences, repaired


def read_dataset(
    path: str | os.PathLike, scheme: str = "IOB2", token_key: str | None = None, tag_key: str | None = None,
    repair: bool = False, fmt: str = "disk",
) -> tuple[list[Sentence], list[str]]:
    """Read a dataset: a ``save_to_disk`` folder (``fmt="disk"``) or a Parquet file, with token and tag
    columns (default ``tokens``/``words`` and ``ner_tags``/``tags``); int ``ClassLabel`` tags are named by
    the dataset's own label names. Returns the sentences and the ``file row N`` of each repaired tag."""
    dataset = _load_dataset(Path(path), fmt)
    tokens_column = _key(dataset.column_names, token_key, TOKEN_KEYS[::-1], "tokens", str(path))
    tags_column = _key(dataset.column_names, tag_key, TAG_KEYS[::-1], "tags", str(path))
    ids = dataset["sent_id"] if "sent_id" in dataset.column_names else None
    texts = dataset["text"] if "text" in dataset.column_names else None
    sentences: list[Sentence] = []
    repaired: list[str] = []
    try:
        for row, tokens, tags in dataset_rows(dataset, tokens_column, tags_column, str(path)):
            where = f"{path} row {row}"
            sent_id = str(ids[row]) if ids is not None else f"{Path(path).stem}-{row + 1}"
            sentence, fixed = _sentence(tokens, tags, sent_id, str(texts[row] or "") if texts else "", where, scheme, repair)
            sentences.append(sentence)
            repaired += [where] * len(fixed)
    except ValueError as error:
        raise CorpusFormatError(str(error)) from None
    return sentences, repaired


def _load_dataset(path: Path, fmt: str) -> Any:
    """The ``datasets.Dataset`` in a ``save_to_disk`` folder or a Parquet file (features, ClassLabel names
    included, from the file's own metadata)."""
    from datasets import load_from_disk

    if not path.exists():
        raise CorpusFormatError(f"{path}: no such file or folder")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return Dataset(pq.read_table(path))
        dataset = load_from_disk(str(path))
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise CorpusFormatError(f"{path}: cannot read as a {fmt} dataset ({str(error).splitlines()[0]})") from None
    if isinstance(dataset, DatasetDict):
        raise CorpusFormatError(f"{path}: holds the splits {', '.join(dataset)}; give one split's folder ({path / next(iter(dataset))})")
    return dataset


def dataset_rows(dataset: Dataset, tokens_column: str, tags_column: str, name: str) -> Iterator[tuple[int, list[str], list[str]]]:
    """Yield ``(row, tokens, string tags)`` of a dataset's token and tag columns, int ``ClassLabel`` tags
    named by the dataset's own label names. Raises ``ValueError`` naming ``name`` and the column or row."""
    for column in (tokens_column, tags_column):
        if column not in dataset.column_names:
            raise ValueError(f"{name}: no column {column!r}; columns are {', '.join(dataset.column_names)}")
    names = getattr(dataset.features[tags_column], "feature", None)
    # Integer tags are only meaningful with the ClassLabel that names them; never guess a label order.
    label_names = names.names if isinstance(names, ClassLabel) else None
    for row, (tokens, tags) in enumerate(zip(dataset[tokens_column], dataset[tags_column])):
        if len(tokens) != len(tags):
            raise ValueError(f"{name} row {row}: {len(tokens)} tokens but {len(tags)} tags")
        if label_names is not None:
            unnamed = next((tag for tag in tags if not 0 <= tag < len(label_names)), None)
            if unnamed is not None:
                raise ValueError(f"{name} row {row}: tag id {unnamed} has no name in {tags_column!r}'s ClassLabel "
                                 f"({len(label_names)} names: 0..{len(label_names) - 1})")
            tags = [label_names[tag] for tag in tags]
        elif not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"{name} row {row}: tags are not strings and {tags_column!r} is not a sequence of ClassLabel")
        yield row, list(tokens), list(tags)


def _string_tags(dataset: Dataset, tokens_column: str, tags_column: str, scheme: str, name: str) -> Dataset:
    sent_ids, all_tokens, all_tags = [], [], []
    for row, tokens, tags in dataset_rows(dataset, tokens_column, tags_column, name):
        tags, problems, _ = check_tags(tags, scheme)
        if problems:
            raise ValueError(f"{name} row {row}, token {problems[0][0]}: {problems[0][1]}")
        sent_ids.append(str(row))
        all_tokens.append(tokens)
        all_tags.append(tags)
    return Dataset.from_dict({"sent_id": sent_ids, "tokens": all_tokens, "tags": all_tags}, features=FEATURES)


def from_hf_dataset(
    dataset: Dataset | DatasetDict, tokens_column: str = "tokens", tags_column: str = "ner_tags", scheme: str = "IOB2"
) -> Dataset | DatasetDict:
    """Convert a Hugging Face dataset with token and tag columns to this project's shape.

    Tags may be strings or integers of a ``ClassLabel`` sequence (as in ``conll2003``'s ``ner_tags``);
    both come out as IOB2 strings. Row numbers become ``sent_id``.
    """
    check_scheme(scheme)
    if isinstance(dataset, DatasetDict):
        return DatasetDict(
            {split: _string_tags(part, tokens_column, tags_column, scheme, split) for split, part in dataset.items()}
        )
    return _string_tags(dataset, tokens_column, tags_column, scheme, "dataset")


def syllables(token: str) -> list[str]:
    """The syllables of a word token: split at inner whitespace (``Phước Sơn``) and at each ``_`` that joins
    syllables (``Hà_Nội``). ``_`` joins nothing in an e-mail address, a URL, a handle or hashtag, ``__`` or
    at either end: such a token stays whole."""
    pieces = token.split() or [token]
    return [s for piece in pieces for s in (piece.split("_") if "_" in piece and not _NOT_A_JOIN.search(piece) else [piece])]


def to_syllables(sentences: Sequence[Sentence], tokens: str = "auto") -> tuple[list[Sentence], str, int]:
    """Return ``sentences`` in syllables, how they were read (``words`` or ``syllables``) and how many word
    tokens were split. ``tokens``: ``syllables`` keeps every token; ``words`` splits each word token
    (:func:`syllables`), spreading its tag (``B-X`` -> ``B-X I-X ...``, ``I-X`` -> ``I-X ...``, ``O`` ->
    ``O ...``); ``auto`` reads the file as words when at least 1% of its tokens are joined syllables."""
    pieces = [[syllables(token) for token in sentence.tokens] for sentence in sentences]
    joined = sum(len(p) > 1 for sentence in pieces for p in sentence)
    total = sum(len(sentence.tokens) for sentence in sentences)
    words = tokens == "words" or (tokens == "auto" and joined > 0 and joined >= WORD_SHARE * total)
    if not words:
        return list(sentences), "syllables", 0
    out = []
    for sentence, split in zip(sentences, pieces):
        new_tokens = tuple(s for p in split for s in p)
        new_tags = tuple(t for p, tag in zip(split, sentence.tags) for t in [tag] + [tag if tag == "O" else "I-" + tag[2:]] * (len(p) - 1))
        out.append(Sentence(new_tokens, new_tags, sentence.sent_id, sentence.text, sentence.line))
    return out, "words", joined


def tag_layers(columns: Sequence[Sequence[tuple[str, ...]]]) -> list[TagLayer]:
    """The entity tag columns of a CoNLL file (``columns``: per sentence, each row's columns after the
    token): every value ``O``/``B-X``/``I-X``, not all types phrase labels (a chunk column: ``B-NP I-NP``),
    with their entities (a stray ``I-`` opens one, as seqeval reads it)."""
    width = min((len(row) for sentence in columns for row in sentence), default=0)
    layers = []
    for index in range(width):
        values = [[row[index] for row in sentence] for sentence in columns]
        flat = [v for sentence in values for v in sentence]
        if not flat or not all(is_tag(v) for v in flat):
            continue
        found = Counter(span.label for sentence in values for span in entities(sentence))
        if found and set(found) <= CHUNK_TYPES:
            continue
        by_type = {kind: found[kind] for kind in types_of(f"B-{kind}" for kind in found)}
        layers.append(TagLayer(index + 1, sum(found.values()), by_type))
    return layers


def _read_column(columns: Sequence[Sequence[tuple[str, ...]]], tag_column: int | None) -> int:
    """The column index (token = 0) the tags were read from."""
    width = next((len(row) + 1 for sentence in columns for row in sentence), 2)
    return (width - 1 if tag_column is None else tag_column) % width


def layer_warning(path: str | os.PathLike, layers: Sequence[TagLayer], read: int, sentences: Sequence[Sentence]) -> str | None:
    """One line when another tag column of the file holds more entities than the one read (column ``read``)."""
    held = sum(len(entities(s.tags)) for s in sentences)
    richest = max((layer for layer in layers if layer.column != read), key=lambda layer: layer.entities, default=None)
    if richest is None or richest.entities <= held:
        return None
    return (f"{path}: the tags read (column {read}) hold {held} entities but {richest}; "
            f"set tag_column: {richest.column} to read that column")


def add_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line form of a data file's reading options (``vietner.config.ReadOptions``)."""
    parser.add_argument("--format", choices=["auto", "conll", "jsonl", "parquet", "disk"], default="auto",
                        help="file format (default: from the path: a save_to_disk folder, .jsonl/.json, .parquet, else CoNLL)")
    parser.add_argument("--tag-column", type=int, default=None, metavar="N",
                        help="CoNLL: the column of the tags (0 is the token; negative from the end; default: the last)")
    parser.add_argument("--token-key", default=None, help="JSON lines/datasets: key of the tokens (default: words or tokens)")
    parser.add_argument("--tag-key", default=None, help="JSON lines/datasets: key of the tags (default: tags or ner_tags)")
    parser.add_argument("--tokens", choices=["auto", "syllables", "words"], default="auto",
                        help="words: split word tokens (Hà_Nội, 'Hà Nội') into syllables; auto: decide per file (default)")
    parser.add_argument("--on-invalid-tag", choices=["error", "repair"], default="error",
                        help="repair: read a stray I-X as B-X, with one warning (default: error, naming file:line)")


def reading_options(args: argparse.Namespace, **given: Any) -> ReadOptions:
    """The ``ReadOptions`` of parsed :func:`add_reading_arguments` (``given`` for the others, e.g. ``scheme``)."""
    return ReadOptions(format=args.format, tag_column=args.tag_column, token_key=args.token_key, tag_key=args.tag_key,
                       tokens=args.tokens, on_invalid_tag=args.on_invalid_tag, **given)
