"""Fast against slow PhoBERT tokenizer inside vietner, side by side in one run.

    python benchmarks/tokenizer_throughput.py [--rounds 5] [--no-readme]

Both sides tokenize with the vocabulary ``train.py`` learns for ``configs/tiny.yaml`` (``vocab.txt`` +
``bpe.codes`` from the training split's segmented words):

* ``slow``: ``PhobertTokenizer.tokenize`` + ``convert_tokens_to_ids``, one call per new word (what vietner
  did before, ``WordPieces(batch=False)``);
* ``fast``: the new words of each call in one encoding of ``vietner.tokenizer.WordEncoder``.

Three measurements, each on a fresh ``WordPieces`` and an emptied ``PhobertTokenizer`` BPE cache (cold: a
word is tokenized the first time it is seen in the round, as in a real run; the fast side's
``WordEncoder`` is built before the timing, as a run builds it once per process):

* ``preprocessing``: ``Preprocessor.prepare`` on every sentence of the five raw articles (sentence split
  and syllables done before timing; underthesea segmentation, tone placement, subwords and windows inside);
* ``subwords``: the subword step alone, on the same sentences already segmented;
* ``train encode``: ``train.py``'s ``encode_train`` over the training split (segmented before timing).

Rounds alternate the two sides (slow, fast, fast, slow, ...) so that other load hits both; medians are
reported, and the outputs of both sides are checked to be identical. Results go to stdout and into the
"## Fast tokenizer" section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Fast tokenizer"


def _setup(directory: Path):
    from vietner.config import load_config
    from vietner.encoding import Preprocessor
    from vietner.modeling import scratch_tokenizer
    from vietner.text import syllable_sentences
    from vietner.sources import load_splits, train_words, training_labels

    config = load_config(ROOT / "configs" / "tiny.yaml")
    splits = load_splits(config.data)
    preprocessor = Preprocessor(None, config.data)
    words = train_words(splits["train"], preprocessor)
    strings = (w for t, s in zip(splits["train"]["tokens"], words) for w in preprocessor.word_strings(t, s))
    preprocessor.tokenizer = scratch_tokenizer(strings, directory, config.model.scratch)
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "raw").glob("*.txt"))]
    raw = [[span.text for span in sentence] for text in texts for sentence in syllable_sentences(text)]
    segmented = [preprocessor.word_strings(s, preprocessor.words(s)) for s in raw]
    return preprocessor, splits["train"], words, training_labels(splits), raw, segmented


def _measure(preprocessor, train, words, labels, raw, segmented, batch: bool) -> tuple[dict[str, float], list]:
    from vietner.encoding import WordPieces
    from vietner.batching import encode_train

    def fresh() -> None:
        # Both sides start cold: a new WordPieces, and PhobertTokenizer's own cache of BPE results emptied.
        preprocessor.tokenizer.cache.clear()
        preprocessor.pieces = WordPieces(preprocessor.tokenizer, preprocessor.settings.max_pieces_per_word, batch=batch)

    times, outputs = {}, []
    fresh()
    preprocessor._words.clear()  # segmentation is part of this measurement: no sentence cached from before
    start = time.perf_counter()
    outputs.append([preprocessor.prepare(s) for s in raw])
    times["preprocessing"] = time.perf_counter() - start
    fresh()
    start = time.perf_counter()
    outputs.append([preprocessor.pieces(s) for s in segmented])
    times["subwords"] = time.perf_counter() - start
    fresh()
    start = time.perf_counter()
    outputs.append(encode_train(train, words, preprocessor, labels).to_dict())
    times["train encode"] = time.perf_counter() - start
    return times, outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true", help="print only; leave benchmarks/README.md alone")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        preprocessor, train, words, labels, raw, segmented = _setup(Path(tmp))
        samples: dict[str, dict[str, list[float]]] = {"slow": {}, "fast": {}}
        reference = None
        for round_ in range(args.rounds):
            for side in ("slow", "fast") if round_ % 2 == 0 else ("fast", "slow"):
                times, outputs = _measure(preprocessor, train, words, labels, raw, segmented, batch=side == "fast")
                reference = reference or outputs
                if outputs != reference:
                    print(f"error: the {side} side's output differs from the other's", file=sys.stderr)
                    return 1
                for key, seconds in times.items():
                    samples[side].setdefault(key, []).append(seconds)
    syllables = sum(map(len, raw))
    words_total = sum(map(len, segmented))
    rows = []
    for key in ("preprocessing", "subwords", "train encode"):
        slow, fast = statistics.median(samples["slow"][key]), statistics.median(samples["fast"][key])
        rows.append(f"| {key} | {slow:.3f} | {fast:.3f} | **{slow / fast:.2f}x** |")
    load_after = os.getloadavg()
    section = "\n".join([
        SECTION,
        "",
        "`python benchmarks/tokenizer_throughput.py` (its docstring says what each row times): the slow "
        "`PhobertTokenizer` one word at a time against the fast tokenizer's batch call inside vietner, on the "
        f"vocabulary `configs/tiny.yaml` learns; the five raw articles ({len(raw)} sentences, {syllables} "
        f"syllables, {words_total} words) and the training split ({len(train)} sentences). Median seconds of "
        f"{args.rounds} alternating rounds, cold word cache each round; both sides' outputs identical.",
        "",
        "| step | slow s | fast s | slow / fast |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
    ])
    print(section)
    if not args.no_readme:
        readme = ROOT / "benchmarks" / "README.md"
        text = readme.read_text(encoding="utf-8")
        if SECTION in text:
            head, _, rest = text.partition(SECTION)
            tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
            text = head + section + ("\n" + tail if tail else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
