"""Documents in and out of batch prediction: plain text, JSON lines, Parquet, a saved ``datasets`` dataset.

Readers yield one record (a dict) per document, lazily, so a file of any size streams through; the record
keeps every column and the text is in ``text_column``. Writers put one document's record plus its
predictions into an output part (JSON lines, CoNLL or Parquet); :func:`merge_parts` joins finished parts in
input order into the output, atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ..storage import NotUtf8Error, atomic_open, decode_utf8

__all__ = [
    "InputError",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "read_documents",
    "count_documents",
    "input_format_of",
    "output_format_of",
    "PartWriter",
    "merge_parts",
]

INPUT_FORMATS = ("auto", "text", "jsonl", "parquet", "dataset")
OUTPUT_FORMATS = ("jsonl", "conll", "parquet")
# Rows read from Parquet or Arrow at a time: a few MB of text.
READ_ROWS = 1024
ENTITY_FIELDS = (("start", "int64"), ("end", "int64"), ("label", "string"), ("text", "string"), ("score", "float64"))


class InputError(ValueError):
    """An input that cannot be read; the message names the file and the line (or row index)."""


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` of each line, without its line end; a line that is not UTF-8 is an
    ``InputError`` naming it. Only ``\\n`` (and ``\\r\\n``) end a line, so \\u2028 and friends stay inside
    a document."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, decode_utf8(raw, path, number).rstrip("\r\n")
            except NotUtf8Error as error:
                raise InputError(f"{error} of the line") from None


def _looks_like_jsonl(path: Path, text_column: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    for _, line in _lines(path):
        if line.strip():
            try:
                first = json.loads(line)
            except ValueError:
                return False
            return isinstance(first, dict) and text_column in first
    return False


def input_format_of(path: Path, input_format: str = "auto", text_column: str = "text") -> str:
    """The format ``auto`` means for ``path``: ``dataset`` for a folder, ``parquet`` for ``.parquet``, ``jsonl``
    for ``.jsonl``/``.ndjson`` or a first line that is an object with ``text_column``, else ``text``."""
    if input_format != "auto":
        return input_format
    if path.is_dir():
        return "dataset"
    if path.suffix.lower() == ".parquet":
        return "parquet"
    return "jsonl" if _looks_like_jsonl(path, text_column) else "text"


def output_format_of(path: Path, output_format: str | None) -> str:
    """``output_format``, or ``parquet`` for a ``.parquet`` output and ``jsonl`` otherwise."""
    return output_format or ("parquet" if path.suffix.lower() == ".parquet" else "jsonl")


def _checked(record: Any, text_column: str, where: str) -> dict[str, Any]:
    """``record`` if it is a dict with a string ``text_column`` that is valid Unicode, else an InputError."""
    if not isinstance(record, dict) or not isinstance(record.get(text_column), str):
        raise InputError(f'{where}: expected an object with a string "{text_column}" field')
    try:
        record[text_column].encode("utf-8")
    except UnicodeEncodeError as error:  # JSON can spell a lone surrogate ("\udc80"); UTF-8 cannot
        raise InputError(f"{where}: the text has a lone surrogate at character {error.start}") from None
    return record


def _read_jsonl(path: Path, text_column: str) -> Iterator[dict[str, Any]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise InputError(f"{path}:{number}: not JSON ({error})") from None
        yield _checked(record, text_column, f"{path}:{number}")


def _rows(batches: Iterator[Any], path: Path, text_column: str) -> Iterator[dict[str, Any]]:
    """Records of Arrow record batches; a row is named by its 0-based index."""
    index = 0
    for batch in batches:
        if text_column not in batch.schema.names:
            raise InputError(f'{path}: no column "{text_column}" (columns: {", ".join(batch.schema.names)}); see --text-column')
        for record in batch.to_pylist():
            yield _checked(record, text_column, f"{path}: row {index}")
            index += 1


def _load_dataset(path: Path) -> Any:
    """A ``datasets.Dataset`` saved with ``save_to_disk`` at ``path``; a DatasetDict must name its split."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as error:
        raise InputError(f"{path}: not a dataset saved with save_to_disk ({error})") from None
    if isinstance(loaded, datasets.DatasetDict):
        raise InputError(f"{path}: holds the splits {', '.join(loaded)}; pass one of them, e.g. --input {path / next(iter(loaded))}")
    return loaded


def read_documents(path: str | os.PathLike, input_format: str = "auto", text_column: str = "text") -> Iterator[dict[str, Any]]:
    """Yield one record per document of ``path``, lazily: ``{text_column: ...}`` plus the other columns.

    ``input_format``: ``text`` (one document per line, empty lines kept as empty documents so output lines
    match input lines), ``jsonl`` (objects with a string ``text_column``), ``parquet``, ``dataset`` (a folder
    written by ``datasets.Dataset.save_to_disk``) or ``auto`` (see :func:`input_format_of`). A document that
    cannot be read is an ``InputError`` naming ``file:line`` (or the row index).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    kind = input_format_of(path, input_format, text_column)
    if kind == "text":
        for _, line in _lines(path):
            yield {text_column: line}
    elif kind == "jsonl":
        yield from _read_jsonl(path, text_column)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        yield from _rows(pq.ParquetFile(path).iter_batches(batch_size=READ_ROWS), path, text_column)
    else:
        yield from _rows(_load_dataset(path).data.to_batches(max_chunksize=READ_ROWS), path, text_column)


def count_documents(path: Path, kind: str) -> int | None:
    """The number of documents (lines for text and JSON lines, so about it for the latter) for a progress bar."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if kind == "dataset":
        return len(_load_dataset(path))
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _entity_type() -> Any:
    import pyarrow as pa

    return pa.list_(pa.struct([(name, getattr(pa, kind)()) for name, kind in ENTITY_FIELDS]))


class PartWriter:
    """Writes documents with their predictions to one open part: JSON lines, CoNLL, or Parquet (a part is
    one Parquet table, so its column types are inferred from all its rows)."""

    def __init__(self, handle: IO[Any], output_format: str, text_column: str) -> None:
        self.handle = handle
        self.format = output_format
        self.text_column = text_column
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any], prediction: Any, number: int) -> None:
        """Write document ``number`` (1-based, for CoNLL's sentence ids): its entities, or for CoNLL its
        tagged sentences."""
        if self.format == "conll":
            self._write_conll(record, prediction, number)
            return
        out = dict(record)
        out["entities"] = [entity.to_dict() for entity in prediction]
        if self.format == "parquet":
            self._rows.append(out)
        else:
            # default=str: columns carried over from Parquet may hold dates or decimals.
            self.handle.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")

    def _write_conll(self, record: dict[str, Any], sentences: Any, number: int) -> None:
        from ..corpus import Sentence, format_conll

        doc_id = str(record.get("id", number))
        text = record[self.text_column]
        blocks = [
            # A comment line must stay one line: odd whitespace inside a sentence becomes a space.
            Sentence(tuple(t.text for t in s.tokens), s.tags, f"{doc_id}-{k}", " ".join(text[s.start : s.end].split()))
            for k, s in enumerate(sentences, start=1)
        ]
        if blocks:
            self.handle.write(format_conll(blocks) + "\n")

    def close(self) -> None:
        """Finish the part (a Parquet part is written here, as one table)."""
        if self.format != "parquet":
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(self._rows)
        if not self._rows:
            table = pa.table({self.text_column: pa.array([], pa.string())})
        entities = pa.array([row["entities"] for row in self._rows], _entity_type())
        table = table.drop_columns(["entities"]) if "entities" in table.column_names else table
        pq.write_table(table.append_column("entities", entities), self.handle)


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with ``schema``'s columns in its order: cast where a part inferred a narrower type (all
    nulls), null where a part lacked the column."""
    import pyarrow as pa

    columns = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def merge_parts(parts: Sequence[Path], output: Path, output_format: str, overwrite: bool) -> None:
    """Join the finished ``parts`` in order into ``output``, written atomically."""
    with atomic_open(output, overwrite, binary=True) as handle:
        if output_format != "parquet":
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, handle, 1 << 20)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not parts:
            empty = pa.table({"text": pa.array([], pa.string()), "entities": pa.array([], _entity_type())})
            pq.write_table(empty, handle)
            return
        schema = pa.unify_schemas([pq.read_schema(part) for part in parts], promote_options="permissive")
        with pq.ParquetWriter(handle, schema) as writer:
            for part in parts:  # one part in memory at a time
                writer.write_table(_conform(pq.read_table(part), schema))
