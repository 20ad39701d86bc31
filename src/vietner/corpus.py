"""The token-labelled corpus: ``Sentence`` records and the CoNLL format they are stored in.

The project's gold files are IOB2, one ``TOKEN<TAB>TAG`` line per syllable, one sentence per block, each
block opened by ``# sent_id = ...`` and ``# text = ...`` comments. The reader also takes a user's own
files with extra columns (the tag is the last column) and IOB1 tags, which it converts to IOB2.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Sentence", "CorpusFormatError", "read_conll", "write_conll", "iob1_to_iob2", "atomic_write_text"]


class CorpusFormatError(ValueError):
    """A data file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Sentence:
    """One sentence: its syllable tokens, their IOB2 tags, an id and the original text."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    sent_id: str = ""
    text: str = ""
    # 1-based line of the first token in the file it was read from (0 when not read from a file).
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


def read_conll(path: str | os.PathLike, scheme: str = "IOB2") -> list[Sentence]:
    """Read a CoNLL file: blank-line separated blocks of ``TOKEN<TAB>...<TAB>TAG`` lines.

    ``# sent_id = `` and ``# text = `` comments are kept; other ``#`` comment lines are ignored. With
    ``scheme="IOB1"`` tags are converted to IOB2. Raises ``CorpusFormatError`` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise CorpusFormatError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    meta: dict[str, str] = {}
    first_line = 0

    def flush() -> None:
        nonlocal tokens, tags, meta, first_line
        if tokens:
            if scheme.upper() == "IOB1":
                tags[:] = iob1_to_iob2(tags)
            sent_id = meta.get("sent_id", f"{path.stem}-{len(sentences) + 1}")
            sentences.append(Sentence(tuple(tokens), tuple(tags), sent_id, meta.get("text", ""), first_line))
        elif meta:
            raise CorpusFormatError(f"{path}:{first_line}: comment block with no tokens")
        tokens, tags, meta, first_line = [], [], {}, 0

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("#") and not tokens:
            key, sep, value = line[1:].strip().partition("=")
            if sep and key.strip() in ("sent_id", "text"):
                meta[key.strip()] = value.strip() if key.strip() == "sent_id" else value[1:] if value.startswith(" ") else value
            first_line = first_line or number
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) < 2 or not columns[0] or not columns[-1]:
            raise CorpusFormatError(f"{path}:{number}: expected TOKEN<TAB>TAG, got {line!r}")
        if not tokens:
            first_line = number if not meta else first_line
        tokens.append(columns[0])
        tags.append(columns[-1].strip())
    flush()
    return sentences


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so no half-written file is left.

    Refuses to replace an existing file unless ``overwrite`` is true.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True (or --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
