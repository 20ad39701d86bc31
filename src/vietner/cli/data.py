"""Command line for the corpus: ``python -m vietner.data draft|import|export|validate|splits|card ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..annotation import (
    MARKUP_TYPES,
    MarkupError,
    compare_markup,
    draft_markup,
    format_changes,
    parse_markup,
    pre_annotation_path,
    read_markup,
    read_raw,
    sentences_to_markup,
)
from ..config import ReadOptions, warn
from ..data_card import build_card
from ..schema import SCHEMES
from ..spans import Entity, to_entity
from ..corpus import CorpusFormatError, atomic_write_text, read_conll, write_conll
from ..storage import os_error_line
from ..text import syllable_sentences
from ..formats import add_reading_arguments, file_format, is_saved_dataset, read_source, reading_options
from ..validate import summarize, validate_corpus, validate_file, validate_splits


def _draft(args: argparse.Namespace) -> int:
    tag = _model_tagger(args.model) if args.model else None
    seen: set[str] = set()
    for raw in sorted(Path(args.raw).glob("*.txt")):
        draft = Path(args.out) / raw.name
        text = draft_markup(read_raw(raw), raw.stem, seen, tag)
        atomic_write_text(draft, text, args.overwrite)
        if tag:  # the model's markup as written, for import to report what the annotator changed
            atomic_write_text(pre_annotation_path(draft), text, args.overwrite)
    return 0


def _model_tagger(model: str) -> Callable[[list[str]], list[list[Entity]]]:
    """The entities a model finds in sentences of text: each text's syllables (as ``NerTagger.predict``
    splits it) tagged with ``NerTagger.predict_tokens``, the method everything that scores a model calls.
    Entities markup cannot hold (a type outside the corpus's, a bracket in the text) are left unmarked,
    with a one-line warning."""
    from ..tagger import NerTagger

    tagger = NerTagger.from_pretrained(model)

    def tag(texts: list[str]) -> list[list[Entity]]:
        sentences = [syllable_sentences(text) for text in texts]
        predictions = iter(tagger.predict_tokens([[s.text for s in sentence] for per_text in sentences for sentence in per_text]))
        found: list[list[Entity]] = []
        for text, per_text in zip(texts, sentences):
            found.append([])
            for sentence in per_text:
                offsets = [(s.start, s.end) for s in sentence]
                found[-1] += [to_entity(span, offsets, text) for span in next(predictions).entities]
        kept = [[e for e in entities if e.label in MARKUP_TYPES and not set("[]") & set(e.text)] for entities in found]
        left = sum(len(entities) for entities in found) - sum(len(entities) for entities in kept)
        if left:
            warn(f"{left} entities left unmarked: markup holds only {', '.join(MARKUP_TYPES)} and no brackets")
        return kept

    return tag


def _import(args: argparse.Namespace) -> int:
    markup = Path(args.markup)
    text = markup.read_text(encoding="utf-8")
    sentences = parse_markup(text, read_raw(args.raw), Path(args.raw).stem, str(markup))
    pre = Path(args.pre) if args.pre else pre_annotation_path(markup)
    before = read_markup(pre.read_text(encoding="utf-8"), str(pre)) if args.pre or pre.is_file() else None
    write_conll(sentences, args.out, overwrite=args.overwrite)
    if before is not None:
        after = read_markup(text, str(markup))
        compared = len({s.text for s in before} & {s.text for s in after})
        print(format_changes(compare_markup(before, after), str(markup), compared))
    return 0


def _export(args: argparse.Namespace) -> int:
    sys.stdout.write(sentences_to_markup(read_conll(args.conll)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    paths = args.paths or ["data/annotated"]
    # One folder (or a name that is no file) is the project corpus; files (and datasets) are a user's own data.
    if len(paths) == 1 and not Path(paths[0]).is_file() and not Path(paths[0]).suffix and not is_saved_dataset(paths[0]):
        if args.scheme:
            print("error: --scheme applies to files; the corpus folder is always IOB2", file=sys.stderr)
            return 2
        return _validate_corpus(paths[0], args.raw)
    options = reading_options(args, scheme=args.scheme or "IOB2")
    try:
        return _validate_files(paths, options)
    except CorpusFormatError as error:  # a setting the file does not fit, or a JSON/dataset file that does not read
        print(f"error: {error}", file=sys.stderr)
        return 2


def _validate_corpus(folder: str, raw: str | None) -> int:
    problems = validate_corpus(folder, raw)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {folder}", file=sys.stderr)
        return 1
    print(f"ok: {folder} is valid")
    return 0


def _validate_files(paths: list[str], options: ReadOptions) -> int:
    failed = 0
    for path in paths:
        fmt = file_format(path, options.format)
        if Path(path).is_dir() and fmt != "disk":
            print(f"{path}: is a folder; give data files, or one folder alone for the corpus check")
            failed += 1
            continue
        # CoNLL files are checked line by line (every problem); the other formats stop at the first.
        problems, summary = [], None
        if fmt == "conll":
            problems, summary = validate_file(path, options.scheme, options.tag_column, options.on_invalid_tag == "repair")
        for problem in problems:
            print(problem)
        if problems:
            print(f"{len(problems)} problem(s) in {path}; read: {summary}", file=sys.stderr)
            failed += 1
            continue
        read = read_source(path, options)
        print(f"ok: {path} reads as {fmt}, {options.scheme}: {summarize(read.sentences)}; {read.describe()}")
        if len(read.layers) > 1:  # several tag columns: say what each holds
            for layer in read.layers:
                print(f"  {layer}")
        for note in read.notes:
            warn(note)
    return 1 if failed else 0


def _splits(args: argparse.Namespace) -> int:
    problems = validate_splits(args.splits, args.dir)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"ok: {args.splits} covers every article and every type occurs in dev and test")
    return 0


def _card(args: argparse.Namespace) -> int:
    card = build_card(args.data)
    out = Path(args.out) if args.out else Path(args.data) / "README.md"
    if args.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != card:
            print(f"{out}: out of date; regenerate it with: python -m vietner.data card", file=sys.stderr)
            return 1
        print(f"ok: {out} is up to date")
        return 0
    # The card is a generated artifact: regenerating it is expected, so it is always overwritten.
    atomic_write_text(out, card, overwrite=True)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the corpus command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vietner.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    draft = commands.add_parser("draft", help="write one sentence-per-block draft per raw article (pre-annotated with --model)")
    draft.add_argument("raw", help="folder of raw .txt articles")
    draft.add_argument("out", help="folder for the drafts")
    draft.add_argument("--model", default=None, metavar="MODEL_DIR",
                       help="pre-annotate: mark the entities this model (written by train.py) finds; "
                       "the model's markup is also kept as NAME.pre.txt for import's change report")
    draft.add_argument("--overwrite", action="store_true")
    draft.set_defaults(run=_draft)
    imp = commands.add_parser("import", help="turn a marked-up draft into a CoNLL file")
    imp.add_argument("markup")
    imp.add_argument("raw", help="the raw article the draft came from")
    imp.add_argument("out", help="CoNLL file to write")
    imp.add_argument("--pre", default=None, metavar="FILE",
                     help="the model's pre-annotation to report changes against (default: MARKUP's NAME.pre.txt, if any)")
    imp.add_argument("--overwrite", action="store_true")
    imp.set_defaults(run=_import)
    exp = commands.add_parser("export", help="print a CoNLL file as inline markup, for review")
    exp.add_argument("conll")
    exp.set_defaults(run=_export)
    val = commands.add_parser(
        "validate",
        help="check the gold corpus (a folder) or your own CoNLL files; prints every problem as file:line",
    )
    val.add_argument(
        "paths", nargs="*", metavar="DIR | FILE",
        help="the corpus folder of .conll files (default: data/annotated), checked against the project's rules; "
        "or CoNLL files of your own, checked to read (columns, tags for --scheme, '# text' where present)",
    )
    val.add_argument("--raw", default=None, help="folder of raw .txt articles (default: raw/ beside DIR)")
    val.add_argument("--scheme", choices=SCHEMES, type=str.upper, default=None,
                     help="tag scheme of FILEs (default: IOB2)")
    add_reading_arguments(val)
    val.set_defaults(run=_validate)
    spl = commands.add_parser("splits", help="check splits.json: every article in one split, every type in dev/test")
    spl.add_argument("splits", nargs="?", default="data/splits.json", help="default: %(default)s")
    spl.add_argument("--dir", default="data/annotated", help="folder of .conll files (default: %(default)s)")
    spl.set_defaults(run=_splits)
    card = commands.add_parser("card", help="(re)generate the data card; overwrites the previous one")
    card.add_argument("--data", default="data", help="folder with annotated/ and splits.json (default: %(default)s)")
    card.add_argument("--out", default=None, help="where to write it (default: DATA/README.md)")
    card.add_argument("--check", action="store_true", help="write nothing; fail if the card is out of date")
    card.set_defaults(run=_card)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    # Bad input is reported in one line, never as a traceback (OSError covers missing and unreadable files).
    except (MarkupError, CorpusFormatError, OSError, UnicodeDecodeError) as error:
        print(f"error: {os_error_line(error) if isinstance(error, OSError) else error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
