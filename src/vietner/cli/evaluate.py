"""The ``evaluate.py`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ..corpus import (
    CorpusFormatError,
    apply_label_map,
    read_conll,
)
from ..config import warn
from ..formats import add_reading_arguments, read_source, reading_options
from ..storage import WriterLock, atomic_write_text, os_error_line
from ..schema import SCHEMES, check_label_map, parse_label_map, types_of
# The evaluation package's public names: the command line uses nothing private of it.
from ..evaluation import (
    UNDERTHESEA_TYPES,
    DictionaryTagger,
    UndertheseaTagger,
    cross_validate,
    evaluate_tags,
    format_comparison,
    format_confusion,
    format_cross_validation,
    format_errors,
    format_predictions,
    format_report,
    load_articles,
    load_split,
    read_predictions,
    report_markdown,
    score_system,
    train_fold_with_script,
)

def _derived(output: Path | None, suffix: str) -> Path | None:
    return None if output is None else output.with_name(output.stem + suffix)


def _write(path: Path | None, text: str, overwrite: bool) -> None:
    if path is not None:
        atomic_write_text(path, text, overwrite=overwrite)
        print(f"wrote {path}", file=sys.stderr)


class UsageError(ValueError):
    """A command line that asks for something impossible (exit status 2, like argparse's own errors)."""


def _warn(notes: list[str], message: str) -> None:
    """Say on stderr, in one line, why something was not scored; the report keeps it in ``notes``."""
    warn(message)
    notes.append(message)


def _restricted(types: list[str], data_types: list[str], baselines: list[str]) -> list[str]:
    """The types a system is also scored on to compare with underthesea, or [] when that row makes no sense."""
    shared = [t for t in UNDERTHESEA_TYPES if t in data_types]
    return shared if "underthesea" in baselines and shared and set(shared) != set(types) else []


def _score(systems: dict[str, dict[str, Any]], name: str, sentences: list, pred: list, args: argparse.Namespace,
           data_types: list[str]) -> None:
    """Score ``pred`` on the types of the data and its predictions, plus the underthesea-comparable row."""
    systems[name] = score_system(sentences, pred, None, args.bootstrap, args.seed)
    shared = _restricted(systems[name]["types"], data_types, args.baselines)
    if shared:
        systems[f"{name} ({'/'.join(shared)})"] = score_system(sentences, pred, shared, args.bootstrap, args.seed)


def _dictionary(args: argparse.Namespace, sentences: list, data_types: list[str], notes: list[str]) -> list | None:
    """The dictionary baseline's tags, or None (with a warning) when it has nothing fit to learn from."""
    if not args.train and (args.data or args.predictions):
        _warn(notes, "dictionary baseline skipped: it learns from --train FILE or the corpus's train split, "
              "and the scored file is not from that corpus; give --train")
        return None
    train = read_conll(args.train) if args.train else load_split("train", args.data_dir, args.splits)
    train = apply_label_map(train, args.label_map, "")[0]  # the dictionary learns the types it is scored on
    train_types = types_of(tag for s in train for tag in s.tags)
    if not set(train_types) & set(data_types):
        _warn(notes, f"dictionary baseline skipped: its training data ({args.train or 'train split'}) and the "
              f"scored data share no type (train: {', '.join(train_types) or 'none'}; data: {', '.join(data_types) or 'none'})")
        return None
    return DictionaryTagger.fit(train)(sentences)


def _baselines(args: argparse.Namespace, sentences: list, data_types: list[str], notes: list[str]) -> dict[str, dict[str, Any]]:
    """Score the baselines asked for that can be scored on these sentences' types."""
    systems: dict[str, dict[str, Any]] = {}
    for baseline in args.baselines:
        if baseline == "dictionary":
            tags = _dictionary(args, sentences, data_types, notes)
            if tags is not None:
                _score(systems, "dictionary", sentences, tags, args, data_types)
        elif baseline == "underthesea":
            shared = [t for t in UNDERTHESEA_TYPES if t in data_types]
            if not shared:
                _warn(notes, f"underthesea baseline skipped: it knows {', '.join(UNDERTHESEA_TYPES)} and the data has "
                      f"none of them ({', '.join(data_types) or 'no entities'})")
                continue
            tags = UndertheseaTagger()(sentences)
            systems["underthesea ner()"] = score_system(sentences, tags, shared, args.bootstrap, args.seed)
    return systems


def _gold_and_pred(args: argparse.Namespace) -> tuple[list, list | None, str]:
    """The gold sentences to score, the predicted tags (None when only baselines run) and where they came from."""
    if args.predictions:
        sentences, pred = read_predictions(args.predictions)
        return sentences, pred, f"predictions file {args.predictions}"
    sentences = _read_data(args) if args.data else load_split(args.split, args.data_dir, args.splits)
    if not sentences:
        raise CorpusFormatError(f"{args.data or args.split}: no sentences")
    source = f"{args.data or f'split {args.split!r} of {args.data_dir}'}"
    if args.label_map is not None:
        sentences, unused = apply_label_map(sentences, args.label_map, source)
        for note in unused:
            warn(note)
    if not args.model:
        return sentences, None, source
    from ..tagger import NerTagger  # torch and transformers, only to score a model

    tagger = NerTagger.from_pretrained(args.model, device=args.device)
    pred = [list(p.tags) for p in tagger.predict_tokens([s.tokens for s in sentences], args.batch_size)]
    return sentences, pred, f"model {args.model} on {source}"


def _read_data(args: argparse.Namespace) -> list:
    """The sentences of ``--data``, read as its reading options say (any format, in syllables)."""
    read = read_source(args.data, reading_options(args, scheme=args.scheme))
    for note in read.notes:
        warn(note)
    if read.tokens == "words":
        print(f"{args.data}: {read.describe()}", file=sys.stderr)
    return read.sentences


def _report_paths(args: argparse.Namespace) -> dict[str, Path | None]:
    """Where the reports go: the JSON report and, for scored tags, the files beside it (None: not written)."""
    output = Path(args.output) if args.output else None
    scored = bool(args.model or args.predictions)
    return {
        "json": output,
        "markdown": (Path(args.markdown) if args.markdown else _derived(output, ".md")) if scored else None,
        "errors": (Path(args.errors) if args.errors else _derived(output, ".errors.txt")) if scored else None,
        "predictions": _derived(output, ".predictions.conll") if args.model else None,
    }


def _evaluate(args: argparse.Namespace) -> int:
    """Check the outputs can be written, then score under the output's writer lock: an existing report
    fails before any work, and two runs never write one report at once."""
    paths = _report_paths(args)
    for path in paths.values():
        if path is not None and path.is_dir():
            raise FileExistsError(f"{path}: is a directory; name a file to write")
        if path is not None and path.exists() and not args.overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    with WriterLock(paths["json"]) if paths["json"] is not None else contextlib.nullcontext():
        return _score_and_report(args, paths)


def _score_and_report(args: argparse.Namespace, paths: dict[str, Path | None]) -> int:
    sentences, pred, source = _gold_and_pred(args)
    data_types = types_of(tag for s in sentences for tag in s.tags)
    systems: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    report: dict[str, Any] | None = None
    if pred is not None:
        report = evaluate_tags(sentences, pred, args.bootstrap, args.seed)
        report["source"] = source
        _score(systems, "model" if args.model else "predictions", sentences, pred, args, data_types)
    systems.update(_baselines(args, sentences, data_types, notes))
    if report is None and not systems:
        raise UsageError("nothing to score: give --model, --predictions or --baselines that apply to this data")
    out = []
    if report is not None:
        out += [f"{len(sentences)} sentences; {source}", "", "Classification report (seqeval; both modes)", format_report(report), "",
                "Type confusion (IOB2 strict; rows: gold, columns: predicted with the same span)", format_confusion(report["confusion"]), ""]
    if systems:
        out += ["Model and baselines (IOB2 strict; a system that knows only some types is scored on those, "
                "against gold restricted to them)", format_comparison(systems), ""]
    print("\n".join(out))
    document = report or {"sentences": len(sentences), "source": source}
    document["comparison"] = systems
    document["notes"] = notes
    _write_reports(args, paths, document, report, sentences, pred)
    return 0


def _write_reports(args: argparse.Namespace, paths: dict[str, Path | None], document: dict[str, Any],
                   report: dict[str, Any] | None, sentences: list, pred: list | None) -> None:
    """Write the JSON report and, beside it, the Markdown report, the error file and the predictions."""
    if report is not None and args.output is None and args.errors is None:
        print(f"{sum(len(r['errors']) for r in report['errors'])} errors; write them with --errors FILE or --output FILE", file=sys.stderr)
    _write(paths["json"], json.dumps(document, ensure_ascii=False, indent=2) + "\n", args.overwrite)
    if report is not None:
        _write(paths["markdown"], report_markdown(report), args.overwrite)
        _write(paths["errors"], format_errors(report["errors"]), args.overwrite)
        if args.model:
            _write(paths["predictions"], format_predictions(sentences, pred), args.overwrite)


def _cross_validate(args: argparse.Namespace) -> int:
    if not args.config:
        raise UsageError("--cross-validate needs --config")
    output_dir = Path(args.cv_dir or f"outputs/cv-{Path(args.config).stem}")
    articles = load_articles(args.data_dir)
    train = train_fold_with_script(args.config, args.data_dir, args.set)
    result = cross_validate(articles, train, output_dir)
    result["config"] = str(args.config)
    table = format_cross_validation(result)
    print(f"Leave-one-article-out cross-validation of {args.config} (IOB2 strict; std over folds, n-1)\n{table}")
    _write(output_dir / "cross_validation.json", json.dumps(result, ensure_ascii=False, indent=2) + "\n", True)
    _write(output_dir / "cross_validation.md", format_cross_validation(result, markdown=True) + "\n", True)
    return 0


def _label_map(text: str) -> dict[str, str]:
    """``--label-map NAME=PER,LOCATION=LOC`` as a mapping (argparse reports a bad one in one line, status 2)."""
    try:
        label_map = parse_label_map(text)
        check_label_map(label_map)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return label_map


def main(argv: list[str] | None = None) -> int:
    """Run ``evaluate.py``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="evaluate.py",
        description="Score NER output with seqeval (IOB2 strict and default modes), with a bootstrap interval, "
        "a type confusion table, an error file and baselines; or cross-validate a config leaving one article out.",
    )
    source = parser.add_argument_group("what to score")
    source.add_argument("--model", help="model directory written by train.py (scored on the gold tokens through NerTagger.predict_tokens)")
    source.add_argument("--predictions", help="CoNLL file with TOKEN ... GOLD PRED columns; no model needed")
    source.add_argument("--split", default="test", help="split of --splits to score (default: test)")
    source.add_argument("--data", help="a gold file to score instead of a split: CoNLL, JSON lines, Parquet or a "
                        "save_to_disk folder, read with the options below")
    source.add_argument("--data-dir", default="data/annotated", help="folder of gold .conll articles (default: data/annotated)")
    source.add_argument("--splits", default="data/splits.json", help="splits file (default: data/splits.json)")
    source.add_argument("--label-map", type=_label_map, metavar="SRC=DST,...",
                        help="rename the gold types (of --data or the split, and of --train) before scoring, as "
                        "data.label_map does in training (e.g. NAME=PER,LOCATION=LOC; types it does not name become O)")
    source.add_argument("--scheme", choices=SCHEMES, type=str.upper, default="IOB2", help="tag scheme of --data (default: IOB2)")
    add_reading_arguments(source)
    source.add_argument("--train", help="gold CoNLL file the dictionary baseline learns from (default: the train split)")
    source.add_argument("--baselines", nargs="*", choices=["dictionary", "underthesea"], default=None,
                        help="baselines scored on the same sentences (default: both, except with --predictions; "
                        "give the flag alone for none)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", help="JSON report; beside it REPORT.md, REPORT.errors.txt and (with --model) REPORT.predictions.conll")
    out.add_argument("--markdown", help="Markdown report (default: beside --output)")
    out.add_argument("--errors", help="error file listing every FP and FN with its sentence (default: beside --output)")
    out.add_argument("--overwrite", action="store_true", help="replace existing output files")
    out.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    out.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    run = parser.add_argument_group("model")
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    cv = parser.add_argument_group("cross-validation")
    cv.add_argument("--cross-validate", action="store_true", help="leave-one-article-out: train one model per article with train.py")
    cv.add_argument("--config", help="training config for --cross-validate")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override passed to train.py (repeatable)")
    cv.add_argument("--cv-dir", help="where folds are trained and the table written (default: outputs/cv-CONFIG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in a report
    if args.model and args.predictions:
        parser.error("give --model or --predictions, not both")
    if args.label_map is not None and args.predictions:
        parser.error("--label-map renames gold from --data or a split; a predictions file's gold is scored as written")
    if args.baselines is None:
        # A predictions file may come from another corpus, with no training split to learn a dictionary from.
        args.baselines = [] if args.predictions else ["dictionary", "underthesea"]
    try:
        return _cross_validate(args) if args.cross_validate else _evaluate(args)
    # Usage and input errors (a bad or missing file, an output that exists) exit 2 like argparse's own.
    except (CorpusFormatError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an unreadable model or file, a full disk: the file and the reason
        print(f"error: {os_error_line(error)}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # a fold's train.py failed: not the command line's fault
        print(f"error: {error}", file=sys.stderr)
        return 1
