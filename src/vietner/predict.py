"""Command line for batch inference: ``python -m vietner.predict --model DIR --input FILE --output FILE``.

Input is plain text, one document per line, or JSON lines with a ``text`` field (other fields are kept).
Output is JSON lines (``{"text": ..., "entities": [{"start", "end", "label", "text", "score"}, ...]}``,
one per input document, in order) or, with ``--format conll``, IOB2 syllable tokens, one sentence per block
with ``# sent_id = <doc>-<sentence>`` and ``# text = `` comments. The output is written to a temporary file
and renamed at the end, and an existing output is only replaced with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main", "read_documents"]

# Documents handed to one predict() call: enough sentences to fill sorted batches, few enough to keep the
# progress bar moving and memory flat on large inputs.
CHUNK_DOCUMENTS = 512


class InputError(ValueError):
    """An input file that cannot be read; the message names the file and line."""


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` of each line, without its line end; a line that is not UTF-8 is an
    ``InputError`` naming it. Only ``\n`` (and ``\r\n``) end a line, so \u2028 and friends stay inside
    a document."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise InputError(f"{path}:{number}: not UTF-8 text ({error.reason} at byte {error.start} of the line)") from None


def _looks_like_jsonl(path: Path) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    for _, line in _lines(path):
        if line.strip():
            try:
                first = json.loads(line)
            except ValueError:
                return False
            return isinstance(first, dict) and "text" in first
    return False


def read_documents(path: str | os.PathLike, input_format: str = "auto") -> Iterator[dict[str, Any]]:
    """Yield one record per document of ``path``: ``{"text": ...}`` plus, for JSON lines, the other fields.

    ``input_format``: ``text`` (one document per line, empty lines kept as empty documents so output lines
    match input lines), ``jsonl`` (objects with a string ``text``), or ``auto`` (``jsonl`` for a
    ``.jsonl``/``.ndjson`` file or one whose first line is such an object, else ``text``). A line that
    cannot be read is an ``InputError`` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    jsonl = input_format == "jsonl" or (input_format == "auto" and _looks_like_jsonl(path))
    for number, line in _lines(path):
        if not jsonl:
            yield {"text": line}
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise InputError(f"{path}:{number}: not JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(f'{path}:{number}: expected a JSON object with a string "text" field')
        try:
            record["text"].encode("utf-8")
        except UnicodeEncodeError as error:  # JSON can spell a lone surrogate ("\udc80"); UTF-8 cannot
            raise InputError(f"{path}:{number}: the text has a lone surrogate at character {error.start}") from None
        yield record


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _write_jsonl(handle: TextIO, records: list[dict[str, Any]], results: list) -> None:
    for record, entities in zip(records, results):
        out = dict(record)
        out["entities"] = [entity.to_dict() for entity in entities]
        handle.write(json.dumps(out, ensure_ascii=False) + "\n")


def _write_conll(handle: TextIO, records: list[dict[str, Any]], results: list, first_number: int) -> None:
    from .corpus import Sentence, format_conll

    for number, (record, sentences) in enumerate(zip(records, results), start=first_number):
        doc_id = str(record.get("id", number))
        blocks = [
            Sentence(
                tuple(token.text for token in s.tokens),
                s.tags,
                f"{doc_id}-{k}",
                # A comment line must stay one line: odd whitespace inside a sentence becomes a space.
                " ".join(record["text"][s.start : s.end].split()),
            )
            for k, s in enumerate(sentences, start=1)
        ]
        if blocks:
            handle.write(format_conll(blocks) + "\n")


def run(args: argparse.Namespace) -> int:
    """Predict every document of ``args.input`` and write ``args.output``; returns the exit status."""
    from tqdm import tqdm

    from .inference import NerTagger
    from .storage import atomic_open

    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
    if not Path(args.input).is_file():
        raise InputError(f"{args.input}: no such file")
    documents = read_documents(args.input, args.input_format)
    total = _count_lines(Path(args.input))
    tagger = NerTagger.from_pretrained(args.model, device=args.device, quantize=args.quantize)
    with atomic_open(output, args.overwrite) as handle, tqdm(
        total=total, unit="doc", desc="predict", disable=args.quiet
    ) as bar:
        done = 0
        while True:
            chunk = [record for _, record in zip(range(CHUNK_DOCUMENTS), documents)]
            if not chunk:
                break
            texts = [record["text"] for record in chunk]
            if args.format == "conll":
                _write_conll(handle, chunk, tagger.predict_tags(texts, batch_size=args.batch_size), done + 1)
            else:
                _write_jsonl(handle, chunk, tagger.predict(texts, batch_size=args.batch_size))
            done += len(chunk)
            bar.update(len(chunk))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vietner.predict``."""
    parser = argparse.ArgumentParser(
        prog="vietner-predict", description="Tag named entities in raw Vietnamese text with a trained vietner model."
    )
    parser.add_argument("--model", required=True, help="model directory written by train.py")
    parser.add_argument("--input", required=True, help="plain text (one document per line) or JSON lines with 'text'")
    parser.add_argument("--output", required=True, help="file to write (JSON lines, or CoNLL with --format conll)")
    parser.add_argument("--format", choices=("jsonl", "conll"), default="jsonl", help="output format (default jsonl)")
    parser.add_argument("--input-format", choices=("auto", "text", "jsonl"), default="auto")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default 32)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--quantize", choices=("dynamic-int8",), default=None, help="int8 Linear layers (CPU)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a usage or input error is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be positive", file=sys.stderr)
        return 2
    try:
        return run(args)
    except (InputError, FileExistsError, FileNotFoundError, ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was written (the output appears only when complete)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
