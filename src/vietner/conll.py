"""The CoNLL format: the one reader of CoNLL files and their writer.

The project's gold files are IOB2, one ``TOKEN<TAB>TAG`` line per syllable, one sentence per block, each
block opened by ``# sent_id = ...`` and ``# text = ...`` comments. The same reader takes a user's own
files (space-separated, extra columns with the tag last, IOB1 tags converted to IOB2, a BOM, CRLF, NFD
text read as NFC) and predictions files (GOLD and PRED as the last two columns).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

from .schema import check_scheme, iob1_to_iob2, nfc
from .sentence import CorpusFormatError, Sentence, check_tags, is_tag, read_data_text
from .storage import atomic_write_text

__all__ = [
    "LineBlock",
    "line_blocks",
    "read_conll",
    "read_conll_problems",
    "ConllRead",
    "read_conll_columns",
    "format_conll",
    "write_conll",
]


def _columns(line: str, tabs: bool | None = None) -> list[str]:
    """Split a line into columns: at tabs in a tab-separated file (``tabs``; None: when the line has one),
    else at runs of whitespace. Tabs decide for the whole file, so a token may hold spaces there."""
    return line.split("\t") if (tabs if tabs is not None else "\t" in line) else line.split()


@dataclass(frozen=True)
class LineBlock:
    """A run of non-blank lines of a CoNLL file: one sentence's comments and token lines as written."""

    # (1-based line number, the line as written: "\r" and all)
    lines: tuple[tuple[int, str], ...]

    @property
    def first_line(self) -> int:
        return self.lines[0][0]


def line_blocks(text: str) -> tuple[list[LineBlock], list[tuple[int, str]]]:
    """Split a CoNLL file's ``text`` into its blocks at blank lines (nothing but whitespace, ``\r`` included);
    return the blocks and the blank lines, each line with its 1-based number. The one place a CoNLL file
    becomes numbered lines: the reader interprets the blocks leniently, :mod:`vietner.validate` checks the
    corpus's layout rules on them."""
    blocks: list[LineBlock] = []
    blank: list[tuple[int, str]] = []
    run: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            run.append((number, line))
            continue
        blank.append((number, line))
        if run:
            blocks.append(LineBlock(tuple(run)))
            run = []
    if run:
        blocks.append(LineBlock(tuple(run)))
    return blocks, blank


# "# sent_id = x", "# newdoc id = 7": a comment whatever follows, even if its last word looks like a tag.
_KEY_VALUE = re.compile(r"#\s*[^\s=]+(?:\s+[^\s=]+)*\s*=(?:\s|$)")


def _is_comment(line: str) -> bool:
    """True when a line opening a block is a comment, not a token such as ``#COVID O`` or ``#<TAB>O``."""
    if not line.startswith("#"):
        return False
    if _KEY_VALUE.match(line):
        return True
    fields = _columns(line)
    return not (len(fields) >= 2 and is_tag(fields[-1].strip()))


@dataclass
class _Block:
    """The sentence being read: its tokens, tags (and predicted tags), their lines and its comments."""

    first_line: int = 0
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    pred: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[str, ...]] = field(default_factory=list)  # every column after the token's


class _ConllReader:
    """Reads one CoNLL file into sentences, reporting each problem to ``report(line, message)``."""

    def __init__(
        self, path: Path, scheme: str, predictions: bool, report: Callable[[int, str], None],
        tag_column: int | None = None, repair: bool = False,
    ) -> None:
        self.path, self.scheme, self.predictions, self.report = path, scheme, predictions, report
        self.tag_column, self.repair = tag_column, repair
        self.sentences: list[Sentence] = []
        self.predicted: list[list[str]] = []
        self.columns: list[list[tuple[str, ...]]] = []  # per sentence, its rows' columns after the token
        self.repaired: list[int] = []  # lines of stray I- tags read as B-
        self.block = _Block()
        self.width: tuple[int, int] | None = None  # (columns, line) of the file's first token line
        self.tabs: bool | None = None  # whether the file is tab-separated, from its first token line

    def read(self, text: str) -> None:
        """Read every block of ``text``, each ending its sentence."""
        for block in line_blocks(text)[0]:
            for number, line in block.lines:
                self.line(number, line.rstrip("\r"))
            self.flush()

    def line(self, number: int, line: str) -> None:
        """Take one line of a block: a comment opens a sentence, a token line extends it."""
        if line.startswith("-DOCSTART-"):
            return
        # Inside a sentence a "#" line is a token; comments only open a block.
        elif not self.block.tokens and _is_comment(line):
            self.comment(number, line)
        else:
            self.token(number, line)

    def comment(self, number: int, line: str) -> None:
        key, sep, value = line[1:].strip().partition("=")
        key = key.strip()
        if sep and key in ("sent_id", "text"):
            self.block.meta[key] = value.strip() if key == "sent_id" else nfc(value.removeprefix(" "))
        self.block.first_line = self.block.first_line or number

    def token(self, number: int, line: str) -> None:
        if self.tabs is None:
            self.tabs = "\t" in line
        columns = _columns(line, self.tabs)
        need = 3 if self.predictions else 2
        if len(columns) < need or not columns[0].strip() or not all(c.strip() for c in columns[-need + 1 :]):
            layout = "TOKEN<TAB>GOLD<TAB>PRED" if self.predictions else "TOKEN<TAB>TAG"
            self.report(number, f"expected {layout}, got {line!r}")
            return
        if self.width is None:
            self.width = (len(columns), number)
            self.check_tag_column(number, len(columns))
        elif len(columns) != self.width[0]:
            self.report(number, f"expected {self.width[0]} columns like line {self.width[1]}, got {len(columns)}")
            return
        if self.predictions:
            pred = columns[-1].strip()
            if not is_tag(pred):
                self.report(number, f"predicted tag {pred!r} is not O, B-TYPE or I-TYPE")
                pred = "O"
            self.block.pred.append(pred)
        self.block.first_line = self.block.first_line or number
        self.block.tokens.append(nfc(columns[0]))
        tag_index = -2 if self.predictions else -1 if self.tag_column is None else self.tag_column
        self.block.tags.append(columns[tag_index].strip())
        self.block.numbers.append(number)
        self.block.rows.append(tuple(c.strip() for c in columns[1:]))

    def check_tag_column(self, number: int, width: int) -> None:
        """Raise ``CorpusFormatError`` when ``tag_column`` names no tag column of a ``width``-column file."""
        index = self.tag_column
        if index is not None and (not -width <= index < width or index % width == 0):
            raise CorpusFormatError(
                f"{self.path}:{number}: tag_column {index} is not a tag column of this file: its lines have {width} "
                f"columns, the token in column 0 and tags in 1..{width - 1} (or -1..-{width - 1} from the end)"
            )

    def flush(self) -> None:
        """End the sentence being read: check its tags and keep it."""
        block, self.block = self.block, _Block()
        if not block.tokens:
            if block.meta:
                self.report(block.first_line, "comment block with no tokens")
            return
        tags, problems, repaired = check_tags(block.tags, self.scheme, self.repair)
        pred = iob1_to_iob2(block.pred) if self.scheme.upper() == "IOB1" else block.pred
        for i, problem in problems:
            self.report(block.numbers[i], problem)
        self.repaired += [block.numbers[i] for i in repaired]
        self.columns.append(block.rows)
        sent_id = block.meta.get("sent_id", f"{self.path.stem}-{len(self.sentences) + 1}")
        self.sentences.append(Sentence(tuple(block.tokens), tuple(tags), sent_id, block.meta.get("text", ""), block.first_line))
        self.predicted.append(pred)


def read_conll_problems(
    path: str | os.PathLike, scheme: str = "IOB2", predictions: bool = False, tag_column: int | None = None,
    repair: bool = False,
) -> tuple[list[Sentence], list[list[str]], list[str]]:
    """Read a CoNLL file as :func:`read_conll` does, but collect every problem instead of stopping.

    Returns the sentences, the predicted tags (empty lists unless ``predictions``) and the problems as
    ``file:line: what`` strings, in line order within each kind. An unreadable file gives no sentences
    and one problem; a ``tag_column`` the file does not have raises ``CorpusFormatError``. With ``repair`` a
    stray ``I-X`` is read as ``B-X``, no problem.
    """
    check_scheme(scheme)
    path = Path(path)
    try:
        text = read_data_text(path)
    except CorpusFormatError as error:
        return [], [], [str(error)]
    problems: list[str] = []
    reader = _ConllReader(
        path, scheme, predictions, lambda line, message: problems.append(f"{path}:{line}: {message}"), tag_column, repair
    )
    reader.read(text)
    return reader.sentences, reader.predicted, problems


@overload
def read_conll(path: str | os.PathLike, scheme: str = ..., predictions: Literal[False] = ...) -> list[Sentence]: ...
@overload
def read_conll(
    path: str | os.PathLike, scheme: str = ..., *, predictions: Literal[True]
) -> tuple[list[Sentence], list[list[str]]]: ...


def read_conll(
    path: str | os.PathLike, scheme: str = "IOB2", predictions: bool = False
) -> list[Sentence] | tuple[list[Sentence], list[list[str]]]:
    """Read a CoNLL file: blank-line separated blocks of ``TOKEN<TAB>...<TAB>TAG`` lines.

    Columns are tab-separated, or whitespace-separated in a line with no tab; every token line has the same
    number of columns. ``# sent_id = `` and ``# text = `` comments are kept; other comments (``# key =
    value``, or a ``#`` line whose last field is not a tag) and ``-DOCSTART-`` lines are ignored, so
    ``#COVID O`` is a token. A leading BOM and ``\\r\\n`` line ends are accepted; tokens and text are read
    in NFC. With ``scheme="IOB1"`` tags are converted to IOB2; with ``"IOB2"`` they must already be valid
    IOB2. With ``predictions=True`` the last two columns are GOLD and PRED and ``(sentences, predicted
    tags)`` is returned; predicted tags need only be ``O``, ``B-X`` or ``I-X`` (a stray ``I-`` is scored).
    Raises ``CorpusFormatError`` naming ``file:line``.
    """
    reader = _read(path, scheme, predictions)
    return (reader.sentences, reader.predicted) if predictions else reader.sentences


def _read(path: str | os.PathLike, scheme: str, predictions: bool, tag_column: int | None = None, repair: bool = False) -> _ConllReader:
    """Read a CoNLL file, stopping at its first problem with a ``CorpusFormatError`` naming ``file:line``."""
    check_scheme(scheme)
    path = Path(path)

    def fail(line: int, message: str) -> None:
        raise CorpusFormatError(f"{path}:{line}: {message}")

    reader = _ConllReader(path, scheme, predictions, fail, tag_column, repair)
    reader.read(read_data_text(path))
    return reader


@dataclass
class ConllRead:
    """A CoNLL file as :func:`read_conll_columns` reads it."""

    sentences: list[Sentence]
    # Per sentence, each token line's columns after the token (every tag layer, POS, chunk ...).
    columns: list[list[tuple[str, ...]]]
    # Lines whose stray I-X was read as B-X (``repair``).
    repaired: list[int]


def read_conll_columns(
    path: str | os.PathLike, scheme: str = "IOB2", tag_column: int | None = None, repair: bool = False
) -> ConllRead:
    """Read a CoNLL file as :func:`read_conll` does, with its tags from ``tag_column`` (an index into the
    columns, the token's being 0, negative from the end; None: the last) and every column kept.

    With ``repair`` a stray ``I-X`` (after ``O`` or another type) is read as ``B-X`` and its line kept in
    ``repaired`` instead of stopping the read. Raises ``CorpusFormatError`` naming ``file:line``.
    """
    reader = _read(path, scheme, False, tag_column, repair)
    return ConllRead(reader.sentences, reader.columns, reader.repaired)


# What would end a line (for str.splitlines as for split("\n")) or start a column: written as a backslash
# escape, so no id, text or token can add a line, a column or a comment to the file.
_LINE_OR_COLUMN = re.compile("[\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    """``text`` with tabs and line breaks escaped (``\\n``, ``\\t``, ``\\u2028``): one cell of one line."""
    return _LINE_OR_COLUMN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def format_conll(sentences: Seq[Sentence], predictions: Seq[Seq[str]] | None = None) -> str:
    """Return the CoNLL text of ``sentences``: comments, then ``TOKEN<TAB>TAG`` lines, blank-separated.

    With ``predictions`` (one tag list per sentence) the lines are ``TOKEN<TAB>GOLD<TAB>PRED``, as
    ``read_conll(..., predictions=True)`` and conlleval read them. Tabs and line breaks inside an id, a text
    or a token are written escaped (``\\t``, ``\\n``), so the file has exactly the lines and columns given.
    """
    if predictions is not None and len(predictions) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(predictions)} predicted tag lists")
    blocks = []
    for i, sentence in enumerate(sentences):
        lines = []
        if sentence.sent_id:
            lines.append(f"# sent_id = {_one_line(sentence.sent_id)}")
        if sentence.text:
            lines.append(f"# text = {_one_line(sentence.text)}")
        columns = [sentence.tokens, sentence.tags] + ([predictions[i]] if predictions is not None else [])
        lines.extend("\t".join(map(_one_line, row)) for row in zip(*columns, strict=True))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_conll(
    sentences: Seq[Sentence],
    path: str | os.PathLike,
    overwrite: bool = False,
    predictions: Seq[Seq[str]] | None = None,
) -> None:
    """Write ``sentences`` (and optionally a PRED column) to ``path`` in CoNLL format, atomically."""
    atomic_write_text(path, format_conll(sentences, predictions), overwrite=overwrite)
