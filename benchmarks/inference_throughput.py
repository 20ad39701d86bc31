"""Inference throughput: NerTagger.predict against the loops users write, on PhoBERT-base at random init.

    python benchmarks/inference_throughput.py [--sentences 2000] [--batch-size 32] [--no-readme]

The model is PhoBERT-base's architecture (RobertaForTokenClassification, 12 layers, 768 wide, 64,001-token
embeddings, 258 positions) built from its config with random weights (no download), saved as a vietner model
directory with a BPE vocabulary learned from the raw articles. The input is the five raw articles in
``data/raw`` repeated to a few thousand sentences. All variants run in this one command, each in its own
process so its peak memory (max RSS) is its own:

* ``tagger fp32``: ``NerTagger.predict(articles, batch_size)`` on raw text: sentence splitting, syllable
  tokenization and word segmentation are inside the timed call;
* ``tagger int8``: the same with ``quantize="dynamic-int8"``;
* ``naive loop``: one pre-segmented sentence at a time through the same model (tokenizer call, forward,
  argmax), as a user would write it;
* ``pipeline``: transformers ``pipeline("token-classification", batch_size=...)`` on the same
  pre-segmented sentences.

``--preprocessing`` measures instead the regime a GPU is in, where preprocessing bounds the throughput:
a tiny model (2 layers, 32 wide, random init) on the five articles x4 per round, end to end from raw text
through ``NerTagger``'s pipeline with 0, 1 and 2 worker processes (pools started and warmed before timing),
and the preprocessing alone (sentence splitting, tokenization, segmentation, subwords, windows; in-process).
It writes the "## Parallel preprocessing" section.

The baselines get segmentation for free, so the ratios understate the tagger's edge. Each variant's process
loads its model once; then rounds (one pass over the articles each) are run variant after variant, the order
rotating, so that other load on the machine hits every variant alike; wall and CPU time are both reported.
Throughput is syllables per second. Results go to stdout and into the "## Inference throughput" section of
benchmarks/README.md (replacing an earlier one).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Inference throughput"
VARIANTS = ("tagger-fp32", "tagger-int8", "naive-loop", "pipeline")
PREPROCESSING_SECTION = "## Parallel preprocessing"
PREPROCESSING_VARIANTS = ("workers-0", "workers-1", "workers-2", "preprocessing-only")
ARTICLE_COPIES = 4  # the --preprocessing round: the five articles x4, as the issue measured
WARMUP_SENTENCES = 64
WARMUP_CHARS = 3000  # raw text for the tagger's warm-up: a few dozen sentences
BEFORE = "before:"
BEFORE_SRC: list[str] = []  # --before: the src directory of the vietner to compare with


def _articles() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "raw").glob("*.txt"))]


def build_model_dir(directory: Path, tiny: bool = False, segmenter_name: str = "underthesea") -> Path:
    """Write PhoBERT-base (``tiny``: a 2-layer, 32-wide model) at random init, with a BPE vocabulary learned
    from the raw articles, to ``directory``; the model's preprocessing segments with ``segmenter_name``."""
    import torch
    from transformers import RobertaForTokenClassification

    from vietner.config import Preprocessing, ScratchConfig
    from vietner.modeling import ModelSettings, NerModel, phobert_base_config, save_model_dir, scratch_tokenizer
    from vietner.segment import get_segmenter, join_word
    from vietner.text import split_sentences, tokenize

    segmenter = get_segmenter("underthesea")
    words = []
    for article in _articles():
        for sentence in split_sentences(article):
            syllables = [s.text for s in tokenize(sentence.text)]
            words.extend(join_word(syllables[a:b]) for a, b in segmenter.words(syllables))
    tokenizer = scratch_tokenizer(words, directory / "tokenizer", ScratchConfig(bpe_vocab_size=20000, bpe_min_frequency=1))
    labels = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MONEY", "DATE") for p in ("B", "I")]
    config = phobert_base_config(labels)
    if tiny:
        config.update({"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64})
    torch.manual_seed(0)
    model = NerModel(RobertaForTokenClassification(config))
    settings = ModelSettings(labels=labels, preprocessing=Preprocessing(segmenter_name, 256, 64), base_model="phobert-base (random init)")
    return save_model_dir(directory / "model", model, tokenizer, settings)


def workload() -> tuple[list[str], list[str], int]:
    """One round: the five raw articles, the same sentences pre-segmented (words joined by "_", as PhoBERT
    expects), and their syllable count."""
    from vietner.segment import get_segmenter, join_word
    from vietner.schema import nfc
    from vietner.text import split_sentences, tokenize

    segmenter = get_segmenter("underthesea")
    texts = _articles()
    segmented: list[str] = []
    syllables = 0
    for article in texts:
        for sentence in split_sentences(nfc(article)):
            tokens = [s.text for s in tokenize(sentence.text)]
            segmented.append(" ".join(join_word(tokens[a:b]) for a, b in segmenter.words(tokens)))
            syllables += len(tokens)
    return texts, segmented, syllables


def _preprocessing_runner(variant: str, model_dir: Path, batch_size: int, texts: list[str]):
    """A round of the --preprocessing variants: the pipeline with N warm workers, or the preprocessing alone."""
    from vietner import NerTagger
    from vietner.encoding import Preprocessor
    from vietner.workers import prepare_text

    tagger = NerTagger.from_pretrained(model_dir)
    if variant == "preprocessing-only":
        preprocessor = Preprocessor(tagger.tokenizer, tagger.preprocessing, tagger.predictor.preprocessor.segmenter, words_cache=0)
        return lambda: sum(len(prepare_text(preprocessor, text)[0]) for text in texts)
    pipeline = tagger.pipeline(int(variant.split("-")[1]), batch_size).__enter__()  # kept open: workers stay warm

    def run() -> int:
        return sum(len(prediction.entities) for _, tagged in pipeline.stream(texts) for _, prediction in tagged)

    run()  # starts the workers and loads their segmenters outside the timed rounds
    return run


def _runner(variant: str, model_dir: Path, batch_size: int, texts: list[str], segmented: list[str]):
    """Load ``variant``'s model, warm it up, and return a function that runs one round and counts outputs."""
    import torch

    if variant in PREPROCESSING_VARIANTS:
        return _preprocessing_runner(variant, model_dir, batch_size, texts)
    if variant.startswith("tagger"):
        from vietner import NerTagger

        tagger = NerTagger.from_pretrained(model_dir, quantize="dynamic-int8" if variant.endswith("int8") else None)
        tagger.predict(texts[0][:WARMUP_CHARS], batch_size=batch_size)

        def run_tagger() -> int:
            return sum(map(len, tagger.predict(texts, batch_size=batch_size)))

        run_tagger.model = tagger.model  # for batching_gain
        return run_tagger
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if variant == "naive-loop":

        def run(batch: list[str]) -> int:
            count = 0
            with torch.inference_mode():
                for sentence in batch:
                    encoded = tokenizer(sentence, return_tensors="pt", truncation=True, max_length=256)
                    tags = model(**encoded).logits.argmax(-1)[0].tolist()
                    count += sum(model.config.id2label[t] != "O" for t in tags)
            return count

    else:
        tagging = pipeline("token-classification", model=model, tokenizer=tokenizer, device=-1, batch_size=batch_size)

        def run(batch: list[str]) -> int:
            return sum(len(found) for found in tagging(batch))

    run(segmented[:WARMUP_SENTENCES])
    return lambda: run(segmented)


def batching_gain(model, batch_size: int, length: int = 30, repeats: int = 3) -> dict[str, float]:
    """Tokens/s of the bare model on ``batch_size`` inputs of ``length`` tokens, one at a time and as one batch
    (best of ``repeats``): what batching alone can buy on this machine."""
    import torch

    ids = torch.randint(5, 1000, (batch_size, length))
    best = {"one_at_a_time": 0.0, "batched": 0.0}
    with torch.inference_mode():
        model(input_ids=ids[:2])
        for _ in range(repeats):
            start = time.perf_counter()
            for row in range(batch_size):
                model(input_ids=ids[row : row + 1])
            best["one_at_a_time"] = max(best["one_at_a_time"], ids.numel() / (time.perf_counter() - start))
            start = time.perf_counter()
            model(input_ids=ids)
            best["batched"] = max(best["batched"], ids.numel() / (time.perf_counter() - start))
    return best


def worker(variant: str, model_dir: Path, batch_size: int) -> None:
    """Serve one variant: load it, then time one round per "run" line on stdin; "quit" reports peak memory."""
    import torch

    texts, segmented, syllables = workload()
    if variant in PREPROCESSING_VARIANTS:
        texts, segmented, syllables = texts * ARTICLE_COPIES, segmented * ARTICLE_COPIES, syllables * ARTICLE_COPIES
    run = _runner(variant, model_dir, batch_size, texts, segmented)
    print(json.dumps({"ready": True, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        wall, cpu = time.perf_counter(), time.process_time()
        outputs = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "syllables": syllables, "sentences": len(segmented),
                          "documents": len(texts), "outputs": outputs}), flush=True)
    final = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if variant == "tagger-fp32":
        final["batching_gain"] = batching_gain(run.model, batch_size)
    print(json.dumps(final), flush=True)


def measure(model_dir: Path, rounds: int, batch_size: int, variants: tuple[str, ...] = VARIANTS) -> dict[str, dict]:
    """Run every variant in its own worker process, interleaved round by round (the order rotating), so a
    change in the machine's load during the run touches all variants alike."""
    workers = {}
    for variant in variants:
        # "before:NAME" runs NAME with the vietner of --before (an earlier source tree) in front of this one.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([BEFORE_SRC[0], os.environ.get("PYTHONPATH", "")])) if variant.startswith(BEFORE) else None
        workers[variant] = subprocess.Popen(
            [sys.executable, __file__, "--worker", variant.removeprefix(BEFORE), "--model-dir", str(model_dir), "--batch-size", str(batch_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
    totals = {v: {"seconds": 0.0, "cpu_seconds": 0.0, "syllables": 0, "sentences": 0, "documents": 0} for v in variants}
    for variant, process in workers.items():
        # Wait until every model is loaded, so that no load overlaps a timed round.
        totals[variant]["threads"] = json.loads(process.stdout.readline())["threads"]
    for round_ in range(rounds):
        order = variants[round_ % len(variants):] + variants[: round_ % len(variants)]
        for variant in order:
            workers[variant].stdin.write("run\n")
            workers[variant].stdin.flush()
            result = json.loads(workers[variant].stdout.readline())
            for key in ("seconds", "cpu_seconds", "syllables", "sentences", "documents"):
                totals[variant][key] += result[key]
            totals[variant]["rounds"] = round_ + 1
            print(f"  round {round_ + 1}/{rounds} {variant}: {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    for variant, process in workers.items():
        process.stdin.write("quit\n")
        process.stdin.flush()
        totals[variant].update(json.loads(process.stdout.readline()))
        process.wait()
        r = totals[variant]
        r["syllables_per_second"] = r["syllables"] / r["seconds"]
        r["cpu_syllables_per_second"] = r["syllables"] / r["cpu_seconds"]
    return totals


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, no GPU, {platform.system()} {platform.release()}"


def report(results: dict[str, dict], command: str, batch_size: int, load: str) -> str:
    """Markdown for the README section."""
    import torch
    import transformers

    fp32, int8 = results["tagger-fp32"], results["tagger-int8"]
    naive, pipe = results["naive-loop"], results["pipeline"]

    def ratio(a: dict, b: dict) -> str:
        return f"**{b['seconds'] / a['seconds']:.2f}x** wall, {b['cpu_seconds'] / a['cpu_seconds']:.2f}x CPU time"

    lines = [
        SECTION,
        "",
        (
            f"`{command}` on {datetime.date.today().isoformat()}; {_machine()}; torch {torch.__version__} "
            f"({fp32['threads']} threads), transformers {transformers.__version__}; load average (1/5/15 min) "
            f"{load}."
        ),
        "",
        (
            f"PhoBERT-base architecture at random init (no download); the five raw articles, {fp32['documents']} "
            f"documents = {fp32['sentences']} sentences = {fp32['syllables']} syllables in all, in rounds of one "
            f"pass over the articles; batch size {batch_size}. Each variant runs in its own process and the "
            "rounds are interleaved across variants (order rotating), so a change in the machine's load hits all "
            "alike. The tagger is timed from raw text (sentence splitting, tokenization and underthesea "
            "segmentation included); the naive loop and the pipeline get the same sentences already segmented. "
            "Peak memory is each process's max RSS (model load included)."
        ),
        "",
        "| variant | seconds | CPU seconds | syllables/s | vs tagger fp32 | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("tagger-fp32", "`NerTagger.predict` fp32"),
        ("tagger-int8", '`NerTagger.predict` `quantize="dynamic-int8"`'),
        ("naive-loop", "naive loop, one sentence at a time"),
        ("pipeline", 'transformers `pipeline("token-classification")`'),
    ):
        r = results[name]
        lines.append(
            f"| {label} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['syllables_per_second']:.0f} | "
            f"{r['syllables_per_second'] / fp32['syllables_per_second']:.2f}x | {r['peak_rss_mb']:.0f} |"
        )
    gain = fp32["batching_gain"]
    lines += [
        "",
        f"- tagger fp32 vs naive loop: {ratio(fp32, naive)} (target 3x)",
        f"- tagger fp32 vs pipeline: {ratio(fp32, pipe)} (target 1.5x)",
        f"- tagger int8 vs tagger fp32: {ratio(int8, fp32)} (target 1.5x)",
        f"- tagger int8 vs naive loop: {ratio(int8, naive)}",
        "",
        (
            "On a CPU the fp32 tagger's edge over the naive loop is batching (plus no per-sentence tokenizer "
            "call): the 12 layers run as large matrix multiplies instead of one short sentence at a time. "
            f"Measured in the same run on the bare model, {batch_size} inputs of 30 tokens go through at "
            f"{gain['one_at_a_time']:.0f} tokens/s one at a time and {gain['batched']:.0f} tokens/s as one batch: "
            f"batching alone is worth {gain['batched'] / gain['one_at_a_time']:.2f}x here, which bounds the fp32 "
            "ratio on this machine. Where one sentence leaves more of the hardware idle (more cores, a GPU) the "
            "ratio grows; int8 is the CPU lever beyond batching."
        ),
        "",
    ]
    return "\n".join(lines)


def report_preprocessing(results: dict[str, dict], command: str, batch_size: int, load: str) -> str:
    """Markdown for the "## Parallel preprocessing" section."""
    import torch

    base = r0 = results["workers-0"]
    lines = [
        PREPROCESSING_SECTION,
        "",
        (
            f"`{command}` on {datetime.date.today().isoformat()}; {_machine()}; torch {torch.__version__} "
            f"({r0['threads']} threads in the main process); load average (1/5/15 min) {load}."
        ),
        "",
        (
            f"Tiny model (2 layers, 32 wide, random init), so preprocessing bounds the throughput as it does "
            f"beside a GPU; the five raw articles x{ARTICLE_COPIES} per round ({r0['documents'] // r0['rounds']} documents, "
            f"{r0['syllables'] // r0['rounds']} syllables), {r0['rounds']} rounds per variant, interleaved; batch size "
            f"{batch_size}; underthesea segmentation. Worker pools are started and warmed before the timed rounds "
            "(starting one costs seconds: each worker imports torch through underthesea). Wall time of the main process."
        ),
        "",
        "| variant | seconds | syllables/s | vs in-process |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (
        ("workers-0", "end to end, in-process (`num_workers=0`)"),
        ("workers-1", "end to end, 1 worker"),
        ("workers-2", "end to end, 2 workers"),
        ("preprocessing-only", "preprocessing only, in-process (no model)"),
    ):
        r = results[name]
        lines.append(f"| {label} | {r['seconds']:.1f} | {r['syllables_per_second']:.0f} | {r['syllables_per_second'] / base['syllables_per_second']:.2f}x |")
    gain = results["workers-2"]["syllables_per_second"] / base["syllables_per_second"]
    lines += ["", f"- 2 workers vs in-process: **{gain:.2f}x** (goal >= 1.5x on this 2-core machine)", ""]
    return "\n".join(lines)


def write_section(readme: Path, section: str, title: str = SECTION) -> None:
    """Put ``section`` into ``readme``, replacing an earlier section called ``title`` if any."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    if title in text:
        head, rest = text.split(title, 1)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = readme.with_name(f".{readme.name}.tmp")
    tmp.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000, help="repeat the articles to at least this many sentences")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant with --preprocessing")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    parser.add_argument("--preprocessing", action="store_true", help="tiny model: 0/1/2 workers and preprocessing alone")
    parser.add_argument("--segmenter", default="underthesea", help="the tiny model's segmenter with --preprocessing")
    parser.add_argument("--before", type=Path, help="with --preprocessing: also run every variant with the vietner of "
                        "this src directory (an earlier revision), interleaved, and report both side by side")
    parser.add_argument("--worker", choices=VARIANTS + PREPROCESSING_VARIANTS, help=argparse.SUPPRESS)  # internal: one variant's process
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.model_dir, args.batch_size)
        return 0
    command = "python benchmarks/inference_throughput.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    # Other work on the machine slows every variant: the load average says how quiet the run was.
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.preprocessing:
        return _main_preprocessing(args, command.strip(), load_before)
    per_round = len(workload()[1])
    rounds = max(1, -(-args.sentences // per_round))
    with tempfile.TemporaryDirectory(prefix="vietner-bench-") as tmp:
        print("building PhoBERT-base at random init ...", file=sys.stderr, flush=True)
        model_dir = build_model_dir(Path(tmp))
        print(f"{rounds} rounds of {per_round} sentences per variant ...", file=sys.stderr, flush=True)
        results = measure(model_dir, rounds, args.batch_size)
    load_after = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    section = report(results, command.strip(), args.batch_size, f"{load_before} before, {load_after} after")
    print(section)
    if not args.no_readme:
        write_section(ROOT / "benchmarks" / "README.md", section)
    return 0


def _main_preprocessing(args: argparse.Namespace, command: str, load_before: str) -> int:
    """The --preprocessing run: tiny model, 0/1/2 workers and preprocessing alone, side by side (with
    ``--before``: each also with the earlier vietner, all in one run, rounds interleaved)."""
    rounds = max(1, args.rounds)
    variants = PREPROCESSING_VARIANTS
    if args.before:
        BEFORE_SRC.append(str(args.before.resolve()))
        variants = tuple(v for variant in PREPROCESSING_VARIANTS for v in (BEFORE + variant, variant))
    with tempfile.TemporaryDirectory(prefix="vietner-bench-") as tmp:
        model_dir = build_model_dir(Path(tmp), tiny=True, segmenter_name=args.segmenter)
        print(f"{rounds} rounds per variant ...", file=sys.stderr, flush=True)
        results = measure(model_dir, rounds, args.batch_size, variants)
    load_after = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    load = f"{load_before} before, {load_after} after"
    if args.before:
        section = report_before_after(results, command, args.batch_size, load, args.segmenter)
    else:
        section = report_preprocessing(results, command, args.batch_size, load)
    print(section)
    if not args.no_readme and not args.before:
        write_section(ROOT / "benchmarks" / "README.md", section, PREPROCESSING_SECTION)
    return 0


def report_before_after(results: dict[str, dict], command: str, batch_size: int, load: str, segmenter: str) -> str:
    """Markdown: every --preprocessing variant with the earlier vietner (--before) and this one."""
    r0 = results["workers-0"]
    lines = [
        f"`{command}` on {datetime.date.today().isoformat()}; {_machine()}; load average (1/5/15 min) {load}.",
        "",
        f"Tiny model, the five raw articles x{ARTICLE_COPIES} per round ({r0['syllables'] // r0['rounds']} syllables), "
        f"{r0['rounds']} rounds per variant, the two versions' rounds interleaved; batch size {batch_size}; {segmenter} "
        "segmentation; worker pools started and warmed before timing. Wall time of the main process.",
        "",
        "| variant | before: s | before: syllables/s | after: s | after: syllables/s | after / before |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("workers-0", "end to end, in-process (`num_workers=0`)"),
        ("workers-1", "end to end, 1 worker"),
        ("workers-2", "end to end, 2 workers"),
        ("preprocessing-only", "preprocessing only, in-process (no model)"),
    ):
        b, a = results[BEFORE + name], results[name]
        lines.append(f"| {label} | {b['seconds']:.1f} | {b['syllables_per_second']:.0f} | {a['seconds']:.1f} | "
                     f"{a['syllables_per_second']:.0f} | **{a['syllables_per_second'] / b['syllables_per_second']:.2f}x** |")
    return "\n".join(lines + [""])


if __name__ == "__main__":
    sys.exit(main())
