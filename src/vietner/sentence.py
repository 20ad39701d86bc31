"""A labelled sentence: ``Sentence`` (syllable tokens, IOB2 tags, id, text, line), the checks of its tags, and
``CorpusFormatError``, the one error of a data file that cannot be read (its message names file and line).

Every reader (:mod:`vietner.conll` for CoNLL, :mod:`vietner.formats` for the other shapes) returns these.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path

from .schema import entity_type, iob1_to_iob2, iob2_problem
from .storage import NotUtf8Error, decode_utf8

__all__ = ["Sentence", "CorpusFormatError", "check_tags", "is_tag", "read_data_text"]


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


def read_data_text(path: Path) -> str:
    """Return the file's text without a leading BOM; raise ``CorpusFormatError`` when it is not UTF-8."""
    if not path.is_file():
        raise CorpusFormatError(f"{path}: no such file")
    try:
        text = decode_utf8(path.read_bytes(), path)
    except NotUtf8Error as error:
        raise CorpusFormatError(str(error)) from None
    except OSError as error:
        raise CorpusFormatError(f"{path}: cannot read ({error.strerror})") from None
    # Editors on Windows write a BOM; left in, it would glue itself to the first token or comment.
    return text.removeprefix("\ufeff")


def is_tag(field: str) -> bool:
    """True for ``O``, ``B-X`` and ``I-X`` (the shape of a tag, whatever the sequence around it)."""
    return field == "O" or (entity_type(field) is not None and not any(c.isspace() for c in field))


def check_tags(tags: Seq[str], scheme: str, repair: bool = False) -> tuple[list[str], list[tuple[int, str]], list[int]]:
    """Return ``tags`` as IOB2 (converted from IOB1 when ``scheme`` says so), the problems as ``(index,
    message)`` and, with ``repair``, the indices of stray ``I-X`` tags turned into ``B-X`` (as seqeval's
    default mode reads them) instead of reported. A tag that is not ``O``/``B-X``/``I-X`` is always a problem."""
    tags = iob1_to_iob2(tags) if scheme.upper() == "IOB1" else list(tags)
    problems: list[tuple[int, str]] = []
    repaired: list[int] = []
    previous = "O"
    for i, tag in enumerate(tags):
        problem = iob2_problem(tag, previous)
        if problem and repair and "broken IOB2" in problem:
            tags[i] = tag = "B-" + tag[2:]
            repaired.append(i)
        elif problem:
            hint = " (pass scheme='IOB1' for IOB1 files)" if "broken IOB2" in problem else ""
            problems.append((i, problem + hint))
        previous = tag
    return tags, problems, repaired
