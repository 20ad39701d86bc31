"""Validator for the gold corpus: every rule of the data format, every problem reported as ``file:line``.

The corpus's files are split into sentence blocks by the CoNLL reader's own pass
(:func:`vietner.conll.line_blocks`) and every rule is checked on them, collecting every problem (where
``read_conll`` stops at the first), so an annotator fixes a whole file in one pass. Bad input (a missing folder,
a binary or unreadable file) is a reported problem, never an exception.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .conll import line_blocks
from .corpus import SPLITS, CorpusFormatError, Sentence, read_conll, read_conll_problems, read_splits
from .schema import DEFAULT_TYPES, entity_type, iob2_problem, labels_for, types_of
from .spans import entities
from .storage import NotUtf8Error, decode_utf8
from .text import SEPARATORS, split_sentences, tokenize

__all__ = ["FileSummary", "Problem", "summarize", "validate_corpus", "validate_file", "validate_splits"]

_LABELS = frozenset(labels_for(DEFAULT_TYPES))


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the corpus, at a file and 1-based line (0 for a whole folder or file)."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass
class _Block:
    """One sentence block as read, with the line of each part for reporting."""

    line: int
    sent_id: tuple[str, int] | None = None
    text: tuple[str, int] | None = None
    tokens: list[tuple[str, str, int]] = field(default_factory=list)


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    """Return the file's text, or None after reporting why it cannot be read as UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as error:
        problems.append(Problem(str(path), 0, f"cannot read ({error.strerror or error})"))
        return None
    try:
        return decode_utf8(data, path)
    except NotUtf8Error as error:
        problems.append(Problem(error.path, error.line, error.problem))
        return None


def _layout(path: Path, text: str, problems: list[Problem]) -> list[_Block]:
    """The sentence blocks of a file as the CoNLL reader splits it (:func:`vietner.conll.line_blocks`), each
    line checked against the corpus's layout rules: ``\n`` line ends, empty blank lines, ``# key = value``
    comments, exactly ``TOKEN<TAB>TAG`` token lines."""
    where = str(path)
    written, blank = line_blocks(text)
    for number, line in blank:
        if "\r" in line:
            problems.append(Problem(where, number, "carriage return in line (use \\n line endings)"))
        if line.replace("\r", ""):
            problems.append(Problem(where, number, "blank line contains whitespace"))
    blocks = []
    for lines in written:
        block = _Block(lines.first_line)
        blocks.append(block)
        for number, line in lines.lines:
            _line(where, number, line, block, problems)
    return blocks


def _line(where: str, number: int, line: str, block: _Block, problems: list[Problem]) -> None:
    """Check one line of a block and add its comment or token to ``block``."""
    if "\r" in line:
        problems.append(Problem(where, number, "carriage return in line (use \\n line endings)"))
        line = line.replace("\r", "")
    # A comment starts with "# "; "#" alone or "#tag" with a tab is a token line ("#<TAB>O").
    if line.startswith("# ") or (line.startswith("#") and "\t" not in line):
        _comment(where, number, line, block, problems)
        return
    columns = line.split("\t")
    if len(columns) != 2:
        problems.append(Problem(where, number, f"expected TOKEN<TAB>TAG, got {line!r}"))
        return
    token, tag = columns
    if not token or token != token.strip() or any(c.isspace() for c in token):
        problems.append(Problem(where, number, f"token {token!r} is empty or contains whitespace"))
    block.tokens.append((token, tag, number))


def _comment(where: str, number: int, line: str, block: _Block, problems: list[Problem]) -> None:
    if not line.startswith("# "):
        problems.append(Problem(where, number, f"comment must start with '# ': {line!r}"))
        return
    if "\t" in line:
        problems.append(Problem(where, number, "comment line contains a tab"))
    if block.tokens:
        problems.append(Problem(where, number, "comment line after the token lines of a sentence"))
        return
    key, sep, value = line[2:].partition(" = ")
    if not sep or key not in ("sent_id", "text"):
        problems.append(Problem(where, number, f"expected '# sent_id = ...' or '# text = ...', got {line!r}"))
    elif getattr(block, key) is not None:
        problems.append(Problem(where, number, f"second '# {key}' in one sentence"))
    else:
        setattr(block, key, (value, number))


def _check_block(path: Path, block: _Block, raw_sentences: set[str] | None, problems: list[Problem]) -> None:
    where = str(path)
    if block.sent_id is None:
        problems.append(Problem(where, block.line, "sentence has no '# sent_id = ...' line"))
    elif not re.fullmatch(re.escape(path.stem) + r"-[1-9][0-9]*", block.sent_id[0]):
        problems.append(Problem(where, block.sent_id[1], f"sent_id {block.sent_id[0]!r} is not {path.stem}-<n>"))
    if block.text is None:
        problems.append(Problem(where, block.line, "sentence has no '# text = ...' line"))
    if not block.tokens:
        problems.append(Problem(where, block.line, "sentence has no token lines"))
        return
    previous = "O"
    for token, tag, number in block.tokens:
        if tag not in _LABELS and tag[:2] in ("B-", "I-") and len(tag) > 2:
            problems.append(Problem(where, number, f"unknown label {tag!r} (allowed: O, B-/I- {', '.join(DEFAULT_TYPES)})"))
        else:
            problem = iob2_problem(tag, previous)
            if problem:
                problems.append(Problem(where, number, problem))
        previous = tag
    if block.text is None:
        return
    text, text_line = block.text
    if raw_sentences is not None and text not in raw_sentences:
        problems.append(Problem(where, text_line, f"text is not a sentence of the raw article: {text[:60]!r}"))
    if not _reassembles(where, block, text, problems):
        return  # A token that does not reassemble also breaks tokenization: one cause, one report.
    expected = [span.text for span in tokenize(text)]
    got = [token for token, _, _ in block.tokens]
    if got != expected:
        # Tokens reassemble the text, so the first difference is a split made or missed at one token.
        i = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        line = block.tokens[min(i, len(got) - 1)][2]
        have = repr(got[i]) if i < len(got) else "end of sentence"
        want = repr(expected[i]) if i < len(expected) else "end of sentence"
        problems.append(Problem(where, line, f"token {have} should be {want} (as vietner.text.tokenize splits the text)"))


def _reassembles(where: str, block: _Block, text: str, problems: list[Problem]) -> bool:
    """Report the first token where the tokens, joined, stop matching the text without whitespace."""
    # Zero-width characters count as whitespace, as in vietner.text: they separate tokens, carry no text.
    target = SEPARATORS.sub("", text)
    offset = 0
    for token, _, number in block.tokens:
        if target[offset : offset + len(token)] != token:
            found = target[offset : offset + len(token)]
            problems.append(Problem(where, number, f"token {token!r} does not match the text here ({found!r})"))
            return False
        offset += len(token)
    if offset != len(target):
        problems.append(Problem(where, block.tokens[-1][2], f"tokens end before the text does: missing {target[offset:][:30]!r}"))
        return False
    return True


def validate_corpus(annotated_dir: str | os.PathLike, raw_dir: str | os.PathLike | None = None) -> list[Problem]:
    """Check every ``.conll`` file in ``annotated_dir`` against the format rules and its raw article.

    ``raw_dir`` defaults to ``raw`` beside ``annotated_dir``. Returns every problem found, sorted by file
    and line; an empty list means the corpus is valid.
    """
    annotated = Path(annotated_dir)
    raw = Path(raw_dir) if raw_dir is not None else annotated.parent / "raw"
    problems: list[Problem] = []
    for folder in (annotated, raw):
        if not folder.is_dir():
            problems.append(Problem(str(folder), 0, "no such directory"))
    if problems:
        return problems
    conll_files = {path.stem: path for path in sorted(annotated.glob("*.conll"))}
    raw_files = {path.stem: path for path in sorted(raw.glob("*.txt"))}
    if not conll_files:
        problems.append(Problem(str(annotated), 0, "no .conll files"))
    for stem in sorted(raw_files.keys() - conll_files.keys()):
        problems.append(Problem(str(raw_files[stem]), 1, f"raw article has no annotated file {annotated / (stem + '.conll')}"))
    for stem in sorted(conll_files.keys() - raw_files.keys()):
        problems.append(Problem(str(conll_files[stem]), 1, f"no raw article {raw / (stem + '.txt')}"))
    seen: dict[str, tuple[str, int]] = {}  # whitespace-collapsed text -> where it first occurred
    seen_ids: dict[str, tuple[str, int]] = {}
    for stem, path in conll_files.items():
        raw_sentences = None
        if stem in raw_files:
            raw_text = _read_text(raw_files[stem], problems)
            raw_sentences = {span.text for span in split_sentences(raw_text)} if raw_text is not None else None
        text = _read_text(path, problems)
        if text is None:
            continue
        blocks = _layout(path, text, problems)
        if not blocks:
            problems.append(Problem(str(path), 1, "no sentences"))
        for block in blocks:
            _check_block(path, block, raw_sentences, problems)
            if block.sent_id is not None:
                first = seen_ids.setdefault(block.sent_id[0], (str(path), block.sent_id[1]))
                if first != (str(path), block.sent_id[1]):
                    problems.append(Problem(str(path), block.sent_id[1], f"duplicate sent_id, first at {first[0]}:{first[1]}"))
            if block.text is not None:
                key = " ".join(block.text[0].split())
                first = seen.setdefault(key, (str(path), block.text[1]))
                if first != (str(path), block.text[1]):
                    problems.append(Problem(str(path), block.text[1], f"duplicate sentence, first at {first[0]}:{first[1]}"))
    return sorted(problems)


def validate_splits(splits_file: str | os.PathLike, annotated_dir: str | os.PathLike) -> list[Problem]:
    """Check ``splits.json``: every annotated article in exactly one split, every type in dev and test.

    Assumes the corpus itself is valid (run ``validate_corpus`` first); read errors are reported, not raised.
    """
    annotated = Path(annotated_dir)
    try:
        splits = read_splits(splits_file)
    except CorpusFormatError as error:
        return [_problem_from(error)]
    where = str(splits_file)
    problems: list[Problem] = []
    listed = {stem for stems in splits.values() for stem in stems}
    for path in sorted(annotated.glob("*.conll")):
        if path.stem not in listed:
            problems.append(Problem(where, 1, f"article {path.stem!r} is in no split"))
    for split in SPLITS:
        if not splits[split]:
            problems.append(Problem(where, 1, f"split {split!r} is empty"))
        types: set[str] = set()
        for stem in splits[split]:
            try:
                sentences = read_conll(annotated / f"{stem}.conll")
            except CorpusFormatError as error:
                problems.append(_problem_from(error))
                continue
            types.update(span.label for sentence in sentences for span in entities(sentence.tags))
        if split != "train":
            for kind in DEFAULT_TYPES:
                if kind not in types:
                    problems.append(Problem(where, 1, f"no {kind} entity in split {split!r}"))
    return sorted(problems)


def _problem_from(error: CorpusFormatError) -> Problem:
    return _problem_from_text(str(error))


def _problem_from_text(message: str) -> Problem:
    # Reader messages are already "file:line: what" or "file: what".
    match = re.fullmatch(r"(.*?)(?::(\d+))?: (.*)", message, flags=re.DOTALL)
    if match is None:
        return Problem("?", 0, message)
    return Problem(match.group(1), int(match.group(2) or 0), match.group(3))


@dataclass(frozen=True)
class FileSummary:
    """What a user's CoNLL file holds: sentence, token and entity counts and the entity types found."""

    sentences: int
    tokens: int
    entities: int
    types: tuple[str, ...]

    def __str__(self) -> str:
        types = ", ".join(self.types) or "none"
        return f"{self.sentences} sentences, {self.tokens} tokens, {self.entities} entities; types: {types}"


def _spelling_problem(sentence: Sentence) -> str | None:
    """Say where ``sentence``'s tokens stop spelling its ``# text`` (whitespace aside), or None if they do."""
    target = SEPARATORS.sub("", sentence.text)
    offset = 0
    for i, token in enumerate(sentence.tokens):
        if target[offset : offset + len(token)] != token:
            return f"tokens do not spell the sentence's '# text' from token {i} ({token!r})"
        offset += len(token)
    if offset != len(target):
        return f"tokens end before the sentence's '# text' does: missing {target[offset:][:30]!r}"
    return None


def summarize(sentences: list[Sentence]) -> FileSummary:
    """What ``sentences`` hold; a malformed tag counts as ``O``, so seqeval does not guess an entity from it."""
    tags = [[tag if entity_type(tag) else "O" for tag in sentence.tags] for sentence in sentences]
    return FileSummary(
        len(sentences),
        sum(len(sentence.tokens) for sentence in sentences),
        sum(len(entities(t)) for t in tags),
        tuple(types_of(tag for t in tags for tag in t)),
    )


def validate_file(
    path: str | os.PathLike, scheme: str = "IOB2", tag_column: int | None = None, repair: bool = False
) -> tuple[list[Problem], FileSummary]:
    """Check a user's CoNLL file with the rules that apply to any such file, collecting every problem.

    It must read (UTF-8; the same number of columns on every token line; tags valid for ``scheme``; no
    empty tokens), and a sentence that has a ``# text`` must be spelled by its tokens. The project
    corpus's own rules (its five types, ``# sent_id``/``# text`` on every sentence, the raw articles) are
    :func:`validate_corpus`'s. Tags are read from ``tag_column`` (None: the last; a column the file lacks
    raises ``CorpusFormatError``); ``repair`` reads a stray ``I-X`` as ``B-X``. Returns the problems, sorted by line, and what the file holds.
    """
    sentences, _, messages = read_conll_problems(path, scheme, tag_column=tag_column, repair=repair)
    problems = [_problem_from_text(message) for message in messages]
    for sentence in sentences:
        problem = _spelling_problem(sentence) if sentence.text else None
        if problem:
            problems.append(Problem(str(path), sentence.line, problem))
    if not sentences and not problems:
        problems.append(Problem(str(path), 1, "no sentences"))
    return sorted(problems), summarize(sentences)
