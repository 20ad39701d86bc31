"""Preprocessing of new text, stage by stage, on one core: what feeds a GPU from raw text.

    python benchmarks/preprocessing_profile.py [--segmenters rdrsegmenter underthesea] [--syllables 100000]

Every measurement runs in a fresh process pinned to one core (``os.sched_setaffinity``, one torch and one
Rust thread), so the figures are per core and the first pass is a real first pass:

1. one-time costs, reported apart: imports, loading the tokenizer, starting the segmenter (the JVM and
   RDRSegmenter's rules, or underthesea's model), and ``Preprocessor.warm_up`` (what a worker runs when it
   starts; a run with ``--no-start-warm-up`` leaves it out);
2. a fixed warm-up of ``WARM_UP_SENTENCES`` sentences of generated text (seed 1) through the path measured;
3. the first pass over text the process has never seen: the five raw articles, then ``--syllables`` of
   generated text (seed 0: sentences drawn from a syllable bigram model of the articles, so new sentences
   with news vocabulary; no sentence of it occurs in the warm-up).

Three processes per segmenter: ``stages`` (the batched path's steps called one after the other, each timed:
sentence split, syllables, tone form, segmentation, word strings, subword pieces, windows), ``batched``
(``vietner.workers.prepare_texts``, the path NerTagger and its workers run, timed as a whole; its total
should match the stages' sum) and ``reference`` (the per-sentence path: ``Preprocessor.prepare`` for each
sentence with the slow tokenizer asked word by word, as vietner ran before). The batched outputs are
checked equal to the reference's. Throughput is syllables per second of the text's syllable tokens.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_SENTENCES = 48
STAGES = ("sentence split", "syllables", "tone form", "segmentation", "word strings", "subword pieces", "windows")
PATHS = ("stages", "batched", "reference")


def _articles() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "raw").glob("*.txt"))]


def generated_texts(seed: int, syllables: int) -> list[str]:
    """Documents of new sentences drawn from a bigram model of the articles' syllables (punctuation attached
    as written), about ``syllables`` syllable tokens in all."""
    from vietner.text import bigram_sentences, syllable_sentences

    articles = [[s.text for s in sentence] for text in _articles() for sentence in syllable_sentences(text)]
    rng, documents, count = random.Random(seed), [], 0
    walks = bigram_sentences(articles, math.inf, rng)
    while count < syllables:
        lines = []
        for _ in range(rng.randint(3, 8)):
            sentences = [next(walks) for _ in range(rng.randint(2, 6))]
            count += sum(map(len, sentences))
            lines.append(" ".join(map(_detokenize, sentences)))
        documents.append("\n".join(lines))
    return documents


def _detokenize(tokens: list[str]) -> str:
    out = ""
    for token in tokens:
        glue = token in ",.;:!?…)]”" or out.endswith(("(", "[", "“"))
        out += token if glue or not out else " " + token
    return out


def _pin() -> None:
    """One core and one thread each for torch and the Rust tokenizers: the figures are per core."""
    os.environ.update({"OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _stages(preprocessor, texts: list[str], times: dict[str, float]) -> list:
    """The batched path's steps (``prepare_texts``/``prepare_many``), one after the other, each timed."""
    from vietner.text import AlignedText, TextSpan, split_sentences, tokenize

    def timed(stage, function, *args):
        start, cpu = time.perf_counter(), time.process_time()
        result = function(*args)
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - start
        times[stage + " cpu"] = times.get(stage + " cpu", 0.0) + time.process_time() - cpu
        return result

    def split():
        return [(aligned, split_sentences(aligned.text)) for aligned in map(AlignedText, texts)]

    def syllables(split_texts):  # as vietner.text.syllable_sentences, from its sentences
        out = []
        for aligned, sentences in split_texts:
            for sentence in sentences:
                spans = tokenize(sentence.text, sentence.start)
                if spans and aligned.text is not aligned.original:
                    spans = [TextSpan(s.text, *aligned.span(s.start, s.end)) for s in spans]
                if spans:
                    out.append([s.text for s in spans])
        return out

    sentences = timed("syllables", syllables, timed("sentence split", split))
    timed("tone form", preprocessor.syllable_forms, [s for sentence in sentences for s in sentence])
    spans = timed("segmentation", preprocessor.words_many, sentences)
    words = timed("word strings", preprocessor.word_strings_many, sentences, spans)
    pieces = timed("subword pieces", preprocessor.pieces, words)
    return timed("windows", preprocessor.windows_many, spans, pieces)


def _run_path(path: str, preprocessor, texts: list[str], times: dict[str, float]) -> list:
    from vietner.text import syllable_sentences
    from vietner.workers import prepare_texts

    if path == "stages":
        return _stages(preprocessor, texts, times)
    start, cpu = time.perf_counter(), time.process_time()
    if path == "batched":
        out = [e for _, encoded in prepare_texts(preprocessor, texts) for e in encoded]
    else:
        out = [preprocessor.prepare([s.text for s in sentence]) for text in texts for sentence in syllable_sentences(text)]
    times["total"], times["total cpu"] = time.perf_counter() - start, time.process_time() - cpu
    return out


def child(path: str, segmenter_name: str, tokenizer_dir: Path, syllables: int, start_warm_up: bool) -> dict:
    """One fresh process: one-time costs, the fixed warm-up, then the first pass over each new text."""
    _pin()
    once: dict[str, float] = {}
    start = time.perf_counter()
    from transformers import PhobertTokenizer

    from vietner.encoding import Preprocessor, WordPieces
    from vietner.segment import get_segmenter
    from vietner.settings import Preprocessing
    from vietner.text import syllable_sentences

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    once["imports"] = time.perf_counter() - start
    texts = {"five articles": _articles(), "generated": generated_texts(0, syllables)}
    warm_up = [[s.text for s in sentence] for text in generated_texts(1, 3000) for sentence in syllable_sentences(text)]
    start = time.perf_counter()
    tokenizer = PhobertTokenizer.from_pretrained(str(tokenizer_dir))
    preprocessor = Preprocessor(tokenizer, Preprocessing(segmenter_name), get_segmenter(segmenter_name), words_cache=0)
    if path == "reference":
        preprocessor.pieces = WordPieces(tokenizer, preprocessor.settings.max_pieces_per_word, batch=False)
    once["tokenizer load"] = time.perf_counter() - start
    start = time.perf_counter()
    preprocessor.segmenter.words(["Hà", "Nội"])
    once["segmenter start"] = time.perf_counter() - start
    if start_warm_up:
        start = time.perf_counter()
        preprocessor.warm_up()
        once["Preprocessor.warm_up"] = time.perf_counter() - start
    start = time.perf_counter()
    for sentence in warm_up[:WARM_UP_SENTENCES]:
        (preprocessor.prepare if path == "reference" else lambda s: preprocessor.prepare_many([s]))(sentence)
    once[f"warm-up ({WARM_UP_SENTENCES} sentences)"] = time.perf_counter() - start
    results = {}
    for name, documents in texts.items():
        times: dict[str, float] = {}
        before = cpu_reference()
        encoded = _run_path(path, preprocessor, documents, times)
        speed = (before, cpu_reference())
        count = sum(len(sentence) for text in documents for sentence in syllable_sentences(text))
        results[name] = {"times": times, "syllables": count, "sentences": len(encoded), "check": _digest(encoded), "cpu reference": speed}
    return {"once": once, "texts": results, "load": os.getloadavg()}


def cpu_reference() -> float:
    """Seconds for a fixed pure-Python sum: how fast this core runs now. A shared VM's core runs at up to 2.3x
    different speeds from one minute to the next (0.17-0.39 s here), so each timed pass is bracketed by two
    of these, and rates from passes whose references differ are not comparable."""
    start = time.perf_counter()
    sum(i * i for i in range(3_000_000))
    return time.perf_counter() - start


def _digest(encoded: list) -> str:
    import hashlib

    return hashlib.sha256(repr([(e.words, e.windows) for e in encoded]).encode()).hexdigest()


def _spawn(path: str, segmenter: str, tokenizer_dir: Path, syllables: int, start_warm_up: bool) -> dict:
    command = [sys.executable, __file__, "--child", path, "--segmenters", segmenter, "--tokenizer", str(tokenizer_dir),
               "--syllables", str(syllables)] + ([] if start_warm_up else ["--no-start-warm-up"])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"error: {path} {segmenter} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def build_tokenizer(directory: Path) -> Path:
    """A 20,000-piece BPE vocabulary learned from the articles' words (underthesea), as inference_throughput's."""
    from vietner.config import ScratchConfig
    from vietner.modeling import scratch_tokenizer
    from vietner.segment import get_segmenter, join_word
    from vietner.text import syllable_sentences

    segmenter = get_segmenter("underthesea")
    words = []
    for text in _articles():
        for sentence in syllable_sentences(text):
            syllables = [s.text for s in sentence]
            words.extend(join_word(syllables[a:b]) for a, b in segmenter.words(syllables))
    scratch_tokenizer(words, directory, ScratchConfig(bpe_vocab_size=20000, bpe_min_frequency=1))
    return directory


def report(segmenter: str, runs: dict[str, dict]) -> list[str]:
    """Markdown lines for one segmenter: one-time costs, the stage table, end to end against the reference."""
    lines = [f"### {segmenter}", ""]
    for path, run in runs.items():
        once = ", ".join(f"{k} {v:.2f} s" for k, v in run["once"].items())
        lines.append(f"- one-time ({path} process): {once}; load average {run['load'][0]:.2f} at its end")
    names = list(runs["stages"]["texts"])
    lines += ["", "| stage | " + " | ".join(f"{n}: s | syllables/s | per CPU s" for n in names) + " |",
              "|---|" + "---:|---:|---:|" * len(names)]

    def cells(text: dict, key: str) -> str:
        if key == "sum of stages":
            wall = sum(v for k, v in text["times"].items() if not k.endswith(" cpu"))
            cpu = sum(v for k, v in text["times"].items() if k.endswith(" cpu"))
        else:
            wall, cpu = text["times"][key], text["times"][key + " cpu"]
        return f"{wall:.3f} | {text['syllables'] / wall:,.0f} | {text['syllables'] / cpu:,.0f}"

    texts = runs["stages"]["texts"]
    for stage in (*STAGES, "sum of stages"):
        lines.append(f"| {stage} | " + " | ".join(cells(texts[n], stage) for n in names) + " |")
    for path in ("batched", "reference"):
        if path in runs:
            label = {"batched": "**end to end, batched** (`prepare_texts`)", "reference": "end to end, reference (per sentence)"}[path]
            lines.append(f"| {label} | " + " | ".join(cells(runs[path]["texts"][n], "total") for n in names) + " |")
    sizes = ", ".join(f"{n}: {texts[n]['sentences']} sentences, {texts[n]['syllables']} syllables" for n in names)
    lines += ["", f"Texts: {sizes}."]
    speeds = "; ".join(f"{p}: " + ", ".join("{} {:.2f}/{:.2f}".format(n, *run["texts"][n]["cpu reference"]) for n in names) for p, run in runs.items())
    lines.append(f"CPU reference (`cpu_reference`, s) before/after each pass: {speeds}.")
    if "reference" in runs:
        same = all(runs[p]["texts"][n]["check"] == runs["reference"]["texts"][n]["check"] for p in runs for n in names)
        ratios = ", ".join(f"{n} {runs['reference']['texts'][n]['times']['total'] / runs['batched']['texts'][n]['times']['total']:.2f}x" for n in names)
        lines.append(f"Batched vs reference: {ratios}; outputs identical: {same}.")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segmenters", nargs="+", default=["rdrsegmenter", "underthesea"])
    parser.add_argument("--syllables", type=int, default=100_000, help="generated text to measure, in syllables")
    parser.add_argument("--no-start-warm-up", action="store_true", help="skip Preprocessor.warm_up (the worker-start warm-up)")
    parser.add_argument("--no-reference", action="store_true", help="skip the per-sentence reference process")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.segmenters[0], args.tokenizer, args.syllables, not args.no_start_warm_up)))
        return 0
    print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="vietner-profile-") as tmp:
        tokenizer_dir = build_tokenizer(Path(tmp))
        for segmenter in args.segmenters:
            paths = [p for p in PATHS if not (args.no_reference and p == "reference")]
            runs = {p: _spawn(p, segmenter, tokenizer_dir, args.syllables, not args.no_start_warm_up) for p in paths}
            print("\n".join(report(segmenter, runs)), flush=True)
    print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
