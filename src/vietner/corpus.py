"""The token-labelled corpus: ``Sentence`` records, the CoNLL format they are stored in, and ``datasets``.

The project's gold files are IOB2, one ``TOKEN<TAB>TAG`` line per syllable, one sentence per block, each
block opened by ``# sent_id = ...`` and ``# text = ...`` comments. The reader also takes a user's own
files with extra columns (the tag is the last column) and IOB1 tags, which it converts to IOB2. Every
reader ends in the same ``datasets.Dataset`` shape: ``sent_id``, ``tokens`` and string ``tags`` columns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from .storage import atomic_write_text  # re-exported: callers import it from here

__all__ = [
    "Sentence",
    "CorpusFormatError",
    "FEATURES",
    "SPLITS",
    "read_conll",
    "write_conll",
    "format_conll",
    "iob1_to_iob2",
    "iob2_problem",
    "atomic_write_text",
    "read_splits",
    "read_corpus",
    "to_dataset",
    "load_corpus",
    "load_conll",
    "from_hf_dataset",
    "label_list",
]

SPLITS = ("train", "dev", "test")
# The one shape every reader returns, so training and evaluation never care where the data came from.
FEATURES = Features(
    {"sent_id": Value("string"), "tokens": Sequence(Value("string")), "tags": Sequence(Value("string"))}
)


class CorpusFormatError(ValueError):
    """A data file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Sentence:
    """One sentence: its syllable tokens, their IOB2 tags, an id and the original text."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    sent_id: str = ""
    text: str = ""
    # 1-based line where the sentence's block starts in the file it was read from (0 when not read from one).
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise ValueError(f"sentence {self.sent_id!r}: {len(self.tokens)} tokens but {len(self.tags)} tags")


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """Convert IOB1 tags (``I-`` may open an entity) to IOB2 (every entity opens with ``B-``)."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def iob2_problem(tag: str, previous: str) -> str | None:
    """Return what is wrong with ``tag`` after ``previous`` in an IOB2 sequence, or None when it is valid.

    Valid tags are ``O``, ``B-TYPE`` and ``I-TYPE``; an ``I-TYPE`` must follow ``B-TYPE`` or ``I-TYPE``.
    """
    if tag != "O" and (tag[:2] not in ("B-", "I-") or len(tag) < 3 or any(c.isspace() for c in tag)):
        return f"tag {tag!r} is not O, B-TYPE or I-TYPE"
    if tag.startswith("I-") and previous[2:] != tag[2:]:
        return f"{tag} follows {previous}, not B-{tag[2:]} or I-{tag[2:]} (broken IOB2)"
    return None


def read_conll(path: str | os.PathLike, scheme: str = "IOB2") -> list[Sentence]:
    """Read a CoNLL file: blank-line separated blocks of ``TOKEN<TAB>...<TAB>TAG`` lines.

    ``# sent_id = `` and ``# text = `` comments are kept; other ``#`` comment lines and ``-DOCSTART-``
    lines are ignored. With ``scheme="IOB1"`` tags are converted to IOB2; with ``"IOB2"`` they must
    already be valid IOB2. Raises ``CorpusFormatError`` naming ``file:line``.
    """
    if scheme.upper() not in ("IOB1", "IOB2"):
        raise ValueError(f"scheme must be IOB1 or IOB2, not {scheme!r}")
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    try:
        lines = path.read_bytes().decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise CorpusFormatError(f"{path}:{line}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise CorpusFormatError(f"{path}: cannot read ({error.strerror})") from None
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    meta: dict[str, str] = {}
    first_line = 0

    def flush() -> None:
        nonlocal tokens, tags, numbers, meta, first_line
        if tokens:
            if scheme.upper() == "IOB1":
                tags[:] = iob1_to_iob2(tags)
            for number, tag, previous in zip(numbers, tags, ["O"] + tags):
                problem = iob2_problem(tag, previous)
                if problem:
                    hint = " (pass scheme='IOB1' for IOB1 files)" if "broken IOB2" in problem else ""
                    raise CorpusFormatError(f"{path}:{number}: {problem}{hint}")
            sent_id = meta.get("sent_id", f"{path.stem}-{len(sentences) + 1}")
            sentences.append(Sentence(tuple(tokens), tuple(tags), sent_id, meta.get("text", ""), first_line))
        elif meta:
            raise CorpusFormatError(f"{path}:{first_line}: comment block with no tokens")
        tokens, tags, numbers, meta, first_line = [], [], [], {}, 0

    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            continue
        # A comment has no tab, so a "#" or "#hashtag" token line opening a block is still a token.
        if line.startswith("#") and "\t" not in line and not tokens:
            key, sep, value = line[1:].strip().partition("=")
            if sep and key.strip() in ("sent_id", "text"):
                meta[key.strip()] = value.strip() if key.strip() == "sent_id" else value[1:] if value.startswith(" ") else value
            first_line = first_line or number
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) < 2 or not columns[0].strip() or not columns[-1].strip():
            raise CorpusFormatError(f"{path}:{number}: expected TOKEN<TAB>TAG, got {line!r}")
        if not tokens:
            first_line = number if not meta else first_line
        tokens.append(columns[0])
        tags.append(columns[-1].strip())
        numbers.append(number)
    flush()
    return sentences


def format_conll(sentences: list[Sentence]) -> str:
    """Return the CoNLL text of ``sentences`` (comments, then ``TOKEN<TAB>TAG`` lines, blank-separated)."""
    blocks = []
    for sentence in sentences:
        lines = []
        if sentence.sent_id:
            lines.append(f"# sent_id = {sentence.sent_id}")
        if sentence.text:
            lines.append(f"# text = {sentence.text}")
        lines.extend(f"{token}\t{tag}" for token, tag in zip(sentence.tokens, sentence.tags))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_conll(sentences: list[Sentence], path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write ``sentences`` to ``path`` in the project's CoNLL format, atomically."""
    atomic_write_text(path, format_conll(sentences), overwrite=overwrite)


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


def _string_tags(dataset: Dataset, tokens_column: str, tags_column: str, scheme: str, name: str) -> Dataset:
    for column in (tokens_column, tags_column):
        if column not in dataset.column_names:
            raise ValueError(f"{name}: no column {column!r}; columns are {', '.join(dataset.column_names)}")
    feature = dataset.features[tags_column]
    names = getattr(feature, "feature", None)
    # Integer tags are only meaningful with the ClassLabel that names them; never guess a label order.
    to_string = names.int2str if isinstance(names, ClassLabel) else None
    sent_ids, all_tokens, all_tags = [], [], []
    for row, (tokens, tags) in enumerate(zip(dataset[tokens_column], dataset[tags_column])):
        where = f"{name} row {row}"
        if len(tokens) != len(tags):
            raise ValueError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
        if to_string:
            tags = [to_string(tag) for tag in tags]
        elif not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"{where}: tags are not strings and {tags_column!r} is not a sequence of ClassLabel")
        if scheme.upper() == "IOB1":
            tags = iob1_to_iob2(tags)
        for i, (tag, previous) in enumerate(zip(tags, ["O"] + tags)):
            problem = iob2_problem(tag, previous)
            if problem:
                raise ValueError(f"{where}, token {i}: {problem}")
        sent_ids.append(str(row))
        all_tokens.append(list(tokens))
        all_tags.append(tags)
    return Dataset.from_dict({"sent_id": sent_ids, "tokens": all_tokens, "tags": all_tags}, features=FEATURES)


def from_hf_dataset(
    dataset: Dataset | DatasetDict, tokens_column: str = "tokens", tags_column: str = "ner_tags", scheme: str = "IOB2"
) -> Dataset | DatasetDict:
    """Convert a Hugging Face dataset with token and tag columns to this project's shape.

    Tags may be strings or integers of a ``ClassLabel`` sequence (as in ``conll2003``'s ``ner_tags``);
    both come out as IOB2 strings. Row numbers become ``sent_id``.
    """
    if scheme.upper() not in ("IOB1", "IOB2"):
        raise ValueError(f"scheme must be IOB1 or IOB2, not {scheme!r}")
    if isinstance(dataset, DatasetDict):
        return DatasetDict(
            {split: _string_tags(part, tokens_column, tags_column, scheme, split) for split, part in dataset.items()}
        )
    return _string_tags(dataset, tokens_column, tags_column, scheme, "dataset")


def label_list(data: Dataset | DatasetDict, tags_column: str = "tags") -> list[str]:
    """Return the labels occurring in ``data`` (all splits): ``"O"`` first, then by type, ``B-`` before ``I-``."""
    parts = data.values() if isinstance(data, DatasetDict) else [data]
    labels = {tag for part in parts for tags in part[tags_column] for tag in tags}
    return ["O"] + sorted(labels - {"O"}, key=lambda tag: (tag[2:], tag[:2]))
