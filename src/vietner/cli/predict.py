"""Command line for batch inference: ``python -m vietner.predict --model DIR --input FILE --output FILE``.

Input is plain text (one document per line), JSON lines, Parquet, or a folder written by
``datasets.Dataset.save_to_disk``; the text is in ``--text-column`` (default ``text``) and every other column
is carried through. Output is JSON lines or Parquet (``{...record, "entities": [{"start", "end", "label",
"text", "score"}, ...]}``, one per input document, in order) or, with ``--format conll``, IOB2 syllable tokens,
one sentence per block with ``# sent_id = <doc>-<sentence>`` and ``# text = `` comments.

The documents are cut into parts of ``--part-size`` documents. Each part is written atomically to
``OUTPUT.parts/`` as it is finished; at the end the parts are merged in input order into the output (written
atomically; an existing output is only replaced with ``--overwrite``) and the folder is removed. A run that
was killed is continued with ``--resume``: finished parts are kept, the others redone. Under ``accelerate
launch`` each process (one model replica per device) takes every N-th part, and the main process merges:
the output is the same for any number of processes and of ``--workers``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..storage import WriterLock, os_error_line
from .documents import INPUT_FORMATS, OUTPUT_FORMATS, InputError, read_documents

__all__ = ["main", "read_documents", "InputError"]

PART_DOCUMENTS = 10_000
MANIFEST = "run.json"


class _Processes:
    """This process's rank among ``accelerate launch``'s processes (one process when not launched)."""

    def __init__(self) -> None:
        self.state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState
            from accelerate.utils import parse_flag_from_env

            # PartialState reads ACCELERATE_USE_CPU only when told: without it CPU processes run alone.
            self.state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
        self.rank = self.state.process_index if self.state is not None else 0
        self.count = self.state.num_processes if self.state is not None else 1
        self.is_main = self.rank == 0

    def wait(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def total(self, values: list[float]) -> list[float]:
        """Sum ``values`` over the processes."""
        if self.state is None:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=self.state.device)
        dist.all_reduce(tensor)
        return tensor.tolist()


class _Stats:
    """Counts for the progress bar and the closing summary."""

    def __init__(self) -> None:
        self.documents = self.sentences = self.entities = self.syllables = 0
        self.start = time.perf_counter()

    def add(self, tagged: list) -> None:
        self.documents += 1
        self.sentences += len(tagged)
        self.syllables += sum(len(sentence) for sentence, _ in tagged)
        self.entities += sum(len(prediction.entities) for _, prediction in tagged)

    def summary(self, processes: _Processes, skipped: int) -> str:
        documents, sentences, entities, syllables, skipped = processes.total(
            [self.documents, self.sentences, self.entities, self.syllables, skipped]
        )
        seconds = max(time.perf_counter() - self.start, 1e-9)
        line = (
            f"done: {documents:.0f} documents, {sentences:.0f} sentences, {entities:.0f} entities in {seconds:.1f} s "
            f"({documents / seconds:.1f} documents/s, {syllables / seconds:.0f} syllables/s"
        )
        line += f", {processes.count} processes)" if processes.count > 1 else ")"
        return line + (f"; {skipped:.0f} finished parts kept from the interrupted run" if skipped else "")


def _parts(documents: Iterable[dict], size: int) -> Iterator[tuple[int, Iterator[dict]]]:
    """Cut ``documents`` into consecutive parts of ``size``; a part the caller leaves unread is skipped."""
    documents = iter(documents)
    for index in itertools.count():
        first = next(documents, None)
        if first is None:
            return
        part = itertools.chain([first], itertools.islice(documents, size - 1))
        yield index, part
        for _ in part:  # drain what the caller did not read
            pass


def _part_path(folder: Path, index: int, output_format: str) -> Path:
    return folder / f"part-{index:08d}.{'parquet' if output_format == 'parquet' else output_format}"


def _fingerprint(path: Path) -> list:
    """What identifies an input: its files' names, sizes and modification times."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p.relative_to(path) if path.is_dir() else p.name), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def _manifest(args: argparse.Namespace, output_format: str) -> dict[str, Any]:
    """Everything a part's bytes depend on: a resumed run must match it (the model by its files' contents,
    so a model retrained in place is not mixed with the old one's parts)."""
    from ..modeling import model_identity

    return {
        "input": str(Path(args.input).resolve()),
        "input_files": _fingerprint(Path(args.input)),
        "model": str(Path(args.model).resolve()),
        "model_files": model_identity(args.model),
        **{k: getattr(args, k) for k in ("input_format", "text_column", "part_size", "batch_size", "max_tokens", "dtype", "quantize")},
        "format": output_format,
    }


def _prepare_parts(folder: Path, manifest: dict[str, Any], args: argparse.Namespace) -> None:
    """Create the parts folder, or with ``--resume`` check it belongs to this run and clear unfinished temporaries."""
    from ..storage import atomic_write_text

    if folder.exists() and not args.resume:
        if not args.overwrite:
            raise FileExistsError(f"{folder}: parts of an unfinished run; pass --resume to continue it or --overwrite to start over")
        shutil.rmtree(folder)
    if folder.exists():
        try:
            found = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{folder / MANIFEST}: missing or unreadable; remove {folder} to start over") from None
        changed = sorted(k for k in manifest if found.get(k) != manifest[k])
        if "model_files" in changed:
            before, now = found.get("model_files") or {}, manifest["model_files"]
            files = sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))
            raise InputError(
                f"{folder}: its parts were tagged by another model ({args.model} changed: {', '.join(files)}); "
                "remove the folder to start over with this model"
            )
        if changed:
            raise InputError(f"{folder}: made with other settings ({', '.join(changed)}); rerun with those or remove the folder")
        for stale in folder.glob(".*.tmp-*"):  # a part being written when the run was killed
            stale.unlink()
        return
    folder.mkdir(parents=True)
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _write_parts(tagger: Any, args: argparse.Namespace, output_format: str, folder: Path, processes: _Processes, bar: Any, stats: _Stats) -> tuple[int, int]:
    """Tag this process's unfinished parts, each written atomically; return (parts in the input, parts kept)."""
    from .documents import PartWriter
    from ..storage import atomic_open

    column, tags = args.text_column, output_format == "conll"
    count = skipped = 0
    with tagger.pipeline(args.workers, args.batch_size, args.max_tokens) as pipeline:
        for index, part in _parts(read_documents(args.input, args.input_format, column), args.part_size):
            count = index + 1
            path = _part_path(folder, index, output_format)
            if index % processes.count != processes.rank:
                continue
            if path.exists():
                skipped += 1
                continue
            with atomic_open(path, binary=output_format == "parquet") as handle:
                writer = PartWriter(handle, output_format, column)
                for number, (record, tagged) in enumerate(pipeline.stream(part, lambda r: r[column]), start=index * args.part_size + 1):
                    writer.write(record, _convert(record[column], tagged, tags), number)
                    stats.add(tagged)
                    bar.update(1)
                    if stats.documents % 256 == 0:
                        bar.set_postfix_str(f"{stats.syllables / (time.perf_counter() - stats.start):.0f} syllables/s", refresh=False)
                writer.close()
    return count, skipped


def _convert(text: str, tagged: list, tags: bool) -> Any:
    from ..tagger import to_entities, to_tagged_sentences

    return to_tagged_sentences(text, tagged) if tags else to_entities(text, tagged)


def run(args: argparse.Namespace) -> int:
    """Predict every document of ``args.input`` and write ``args.output``; returns the exit status."""
    from ..streaming import default_workers
    from ..tagger import NerTagger
    from .documents import input_format_of, output_format_of

    output, source = Path(args.output), Path(args.input)
    if output.is_dir():  # checked before the work: a folder is never replaced by the merged output
        raise InputError(f"{output}: is a directory; --output names the file to write")
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
    if not source.exists():
        raise InputError(f"{source}: no such file")
    output_format = output_format_of(output, args.format)
    args.input_format = input_format_of(source, args.input_format, args.text_column)
    processes = _Processes()
    if args.workers is None:
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) if source.is_dir() else source.stat().st_size
        args.workers = default_workers(size, processes.count)
    device = args.device
    if processes.count > 1 and device in ("auto", "cuda"):
        device = processes.state.device  # one model replica per process's own device
    # Loaded before the parts folder exists: a bad model leaves nothing behind.
    tagger = NerTagger.from_pretrained(args.model, device=device, quantize=args.quantize, dtype=args.dtype)
    folder = output.with_name(output.name + ".parts")
    # One run at a time writes an output and its parts: a second would clear the first's temporaries.
    lock = WriterLock(output).acquire() if processes.is_main else None
    try:
        return _run_parts(args, tagger, source, output, output_format, folder, processes)
    finally:
        if lock is not None:
            lock.release()


def _run_parts(args: argparse.Namespace, tagger: Any, source: Path, output: Path, output_format: str, folder: Path, processes: _Processes) -> int:
    """Tag the parts into ``folder`` and merge them into ``output`` (this process holds the writer lock)."""
    from tqdm import tqdm

    from .documents import count_documents, merge_parts

    fresh = not folder.exists()
    if processes.is_main:
        _prepare_parts(folder, _manifest(args, output_format), args)
    processes.wait()  # the folder is ready (and stale temporaries gone) before any process writes a part
    stats = _Stats()
    try:
        total = count_documents(source, args.input_format) if processes.count == 1 else None
        with tqdm(total=total, unit="doc", desc="predict", disable=args.quiet or not processes.is_main) as bar:
            count, skipped = _write_parts(tagger, args, output_format, folder, processes, bar, stats)
    except Exception:
        # A failed new run (a bad line, a full disk) leaves no folder that would block the next one; an
        # interrupted or resumed run keeps its finished parts.
        if processes.is_main and (fresh or args.overwrite) and not args.resume:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    processes.wait()
    if processes.is_main:
        merge_parts([_part_path(folder, i, output_format) for i in range(count)], output, output_format, args.overwrite)
        shutil.rmtree(folder)
    summary = stats.summary(processes, skipped)
    if processes.is_main and not args.quiet:
        print(summary, file=sys.stderr)
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m vietner.predict``."""
    parser = argparse.ArgumentParser(
        prog="vietner-predict", description="Tag named entities in raw Vietnamese text with a trained vietner model."
    )
    parser.add_argument("--model", required=True, help="model directory written by train.py")
    parser.add_argument("--input", required=True, help="text (a document per line), JSON lines, Parquet, or a saved dataset folder")
    parser.add_argument("--output", required=True, help="file to write: JSON lines, Parquet (.parquet) or CoNLL")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default=None, help="output format (default: parquet for .parquet, else jsonl)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto")
    parser.add_argument("--text-column", default="text", help="the field or column holding the text (default text)")
    parser.add_argument("--batch-size", type=_positive, default=32, help="windows per forward pass (default 32)")
    parser.add_argument("--max-tokens", type=_positive, default=None, help="padded positions per forward pass (default: no bound)")
    parser.add_argument("--workers", type=_non_negative, default=None, help="preprocessing processes (default: the cores, 0 for inputs under 2 MB)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu; under accelerate: each process's device)")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32", help="autocast precision (fp16 on CUDA only)")
    parser.add_argument("--quantize", choices=("dynamic-int8",), default=None, help="int8 Linear layers (CPU)")
    parser.add_argument("--part-size", type=_positive, default=PART_DOCUMENTS, help=f"documents per resumable part (default {PART_DOCUMENTS})")
    parser.add_argument("--resume", action="store_true", help="continue a killed run: keep its finished parts")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a usage or input error is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (InputError, FileExistsError, FileNotFoundError, ValueError, RuntimeError, OSError) as error:
        print(f"error: {os_error_line(error) if isinstance(error, OSError) else error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; finished parts are kept in {args.output}.parts: rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
