"""Word segmenters against RDRSegmenter, the segmenter PhoBERT's pre-training text went through.

    python benchmarks/segmenters.py [--rounds 3] [--output segmenters.json]

On every sentence of the corpus (``data/annotated/*.conll``, gold syllable tokens), each available segmenter
(``underthesea``, ``none``, ``pyvi`` when installed) is compared with ``rdrsegmenter``: word-level
precision, recall and F1 of word spans (a word counts when its first and last syllable both match), and the
share of sentences segmented identically. It also counts the words that ``normalize_tone_placement`` respells
(PhoBERT's "hoà", "thuỷ" for today's "hòa", "thủy") and times each segmenter in syllables per second (the
median of ``--rounds`` passes over the corpus, rounds interleaved across segmenters, after one warm-up
sentence: JVM start and model loading are reported apart).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vietner.corpus import read_conll  # noqa: E402
from vietner.segment import Segmenter, get_segmenter, join_word  # noqa: E402
from vietner.text import normalize_tone_placement  # noqa: E402

CANDIDATES = ("underthesea", "none", "pyvi")
Spans = list[tuple[int, int]]


def load_sentences(data_dir: Path) -> list[tuple[str, ...]]:
    """Return the syllable tokens of every sentence of every ``*.conll`` file in ``data_dir``."""
    return [sentence.tokens for path in sorted(data_dir.glob("*.conll")) for sentence in read_conll(path)]


def span_agreement(predicted: Sequence[Spans], reference: Sequence[Spans]) -> dict[str, float]:
    """Word-level precision, recall and F1 of ``predicted`` word spans against ``reference``, micro-averaged
    over sentences, and the share of sentences whose words are identical."""
    hits = sum(len(set(p) & set(r)) for p, r in zip(predicted, reference))
    n_predicted = sum(map(len, predicted))
    n_reference = sum(map(len, reference))
    precision, recall = hits / n_predicted, hits / n_reference
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "identical_sentences": sum(p == r for p, r in zip(predicted, reference)) / len(reference),
        "words": n_predicted,
    }


def timed_segmentation(
    segmenters: dict[str, Segmenter], sentences: Sequence[tuple[str, ...]], rounds: int
) -> tuple[dict[str, list[Spans]], dict[str, dict]]:
    """Segment ``sentences`` with each segmenter ``rounds`` times, rounds interleaved across segmenters so a
    change in the machine's load hits all alike; return each one's spans and timings (warm-up apart)."""
    syllables = sum(map(len, sentences))
    timings: dict[str, dict] = {}
    for name, segmenter in segmenters.items():
        start = time.perf_counter()
        segmenter.words(sentences[0])  # loads models, starts the JVM
        timings[name] = {"warm_up_s": time.perf_counter() - start, "seconds": []}
    spans: dict[str, list[Spans]] = {}
    for _ in range(rounds):
        for name, segmenter in segmenters.items():
            start = time.perf_counter()
            spans[name] = [segmenter.words(sentence) for sentence in sentences]
            timings[name]["seconds"].append(time.perf_counter() - start)
    for timing in timings.values():
        timing["syllables_per_s"] = syllables / statistics.median(timing["seconds"])
    return spans, timings


def tone_changes(sentences: Sequence[tuple[str, ...]], spans: Sequence[Spans]) -> dict:
    """Count the words (of the given segmentation) and syllables that ``normalize_tone_placement`` respells."""
    words = [join_word(s[a:b]) for s, sentence_spans in zip(sentences, spans) for a, b in sentence_spans]
    changed = [w for w in words if normalize_tone_placement(w) != w]
    syllables = [s for sentence in sentences for s in sentence]
    start = time.perf_counter()
    changed_syllables = sum(normalize_tone_placement(s) != s for s in syllables)
    seconds = time.perf_counter() - start
    return {
        "words": len(words),
        "words_changed": len(changed),
        "distinct_changed": sorted({f"{w} -> {normalize_tone_placement(w)}" for w in changed}),
        "syllables": len(syllables),
        "syllables_changed": changed_syllables,
        "normalize_syllables_per_s": len(syllables) / seconds,
    }


def machine() -> str:
    """One line naming the machine, Python and Java the figures were measured with."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{java[0] if java else 'no java'}; load average {load}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "annotated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    sentences = load_sentences(args.data_dir)
    print(f"{len(sentences)} sentences, {sum(map(len, sentences))} syllables; {machine()}")
    segmenters = {"rdrsegmenter": get_segmenter("rdrsegmenter")}
    for name in CANDIDATES:
        try:
            segmenters[name] = get_segmenter(name)
        except ImportError as error:
            print(f"{name}: skipped ({error})")
    spans, timings = timed_segmentation(segmenters, sentences, args.rounds)
    reference = spans["rdrsegmenter"]
    results: dict = {"rdrsegmenter": {"timing": timings["rdrsegmenter"]}}
    for name in [n for n in segmenters if n != "rdrsegmenter"]:
        results[name] = {"timing": timings[name], "agreement": span_agreement(spans[name], reference)}
    results["tone"] = tone_changes(sentences, reference)

    print("\n| segmenter | word P | word R | word F1 vs RDRSegmenter | identical sentences | syllables/s | warm-up s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        if name == "tone":
            continue
        a, t = result.get("agreement"), result["timing"]
        scores = "- | - | (reference) | -"
        if a:
            scores = f"{a['precision']:.3f} | {a['recall']:.3f} | {a['f1']:.3f} | {a['identical_sentences']:.1%}"
        print(f"| {name} | {scores} | {t['syllables_per_s']:,.0f} | {t['warm_up_s']:.2f} |")
    tone = results["tone"]
    print(
        f"\ntone placement: {tone['words_changed']} of {tone['words']} RDRSegmenter words respelled "
        f"({tone['syllables_changed']} of {tone['syllables']} syllables; "
        f"{tone['normalize_syllables_per_s']:,.0f} syllables/s):"
    )
    print("  " + "; ".join(tone["distinct_changed"]))
    if args.output:
        args.output.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
