"""Command line for the corpus: ``python -m vietner.data draft|import|export ...``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .annotation import MarkupError, draft_markup, parse_markup, read_raw, sentences_to_markup
from .corpus import CorpusFormatError, atomic_write_text, read_conll, write_conll


def _draft(args: argparse.Namespace) -> int:
    seen: set[str] = set()
    for raw in sorted(Path(args.raw).glob("*.txt")):
        atomic_write_text(Path(args.out) / raw.name, draft_markup(read_raw(raw), raw.stem, seen), args.overwrite)
    return 0


def _import(args: argparse.Namespace) -> int:
    markup = Path(args.markup)
    sentences = parse_markup(markup.read_text(encoding="utf-8"), read_raw(args.raw), Path(args.raw).stem, str(markup))
    write_conll(sentences, args.out, overwrite=args.overwrite)
    return 0


def _export(args: argparse.Namespace) -> int:
    sys.stdout.write(sentences_to_markup(read_conll(args.conll)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the corpus command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vietner.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    draft = commands.add_parser("draft", help="write one unmarked sentence-per-block draft per raw article")
    draft.add_argument("raw", help="folder of raw .txt articles")
    draft.add_argument("out", help="folder for the drafts")
    draft.add_argument("--overwrite", action="store_true")
    draft.set_defaults(run=_draft)
    imp = commands.add_parser("import", help="turn a marked-up draft into a CoNLL file")
    imp.add_argument("markup")
    imp.add_argument("raw", help="the raw article the draft came from")
    imp.add_argument("out", help="CoNLL file to write")
    imp.add_argument("--overwrite", action="store_true")
    imp.set_defaults(run=_import)
    exp = commands.add_parser("export", help="print a CoNLL file as inline markup, for review")
    exp.add_argument("conll")
    exp.set_defaults(run=_export)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (MarkupError, CorpusFormatError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
