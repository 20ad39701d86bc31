"""Check that inference preprocessing matches training: a model that fits its training split must recover the
gold entities when that split is fed back as raw text through ``NerTagger``.

    python benchmarks/raw_text_fit.py --train                       # train configs/tiny.yaml to fit, then check
    python benchmarks/raw_text_fit.py --model outputs/tiny/model    # check an existing model directory

``--train`` trains ``--config`` with the training split as its dev split too (so the epoch kept is the one
that fits it best) into ``outputs/raw-text-fit/``. Each training sentence's raw ``# text`` then goes through
``NerTagger.predict`` (NFC, sentence splitting, syllable tokenization, segmentation, windows, decoding), its
entities are mapped onto the gold syllables by their offsets and scored with seqeval
(``vietner.evaluation.spans_to_tags``), beside the same model scored on the gold tokens
(``NerTagger.predict_tokens``, what ``train.py`` and ``evaluate.py`` report). Exit status 1 when the training-split F1 is below
``--min-f1`` (default 0.95). The test split is then scored with the fp32 and the dynamic-int8 tagger, giving
int8's F1 change and speed-up on real sentences.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(config: str, output_dir: Path, corpus: dict, overrides: list[str]) -> Path:
    """Train ``config`` to fit the training split: the training split also serves as dev, so the epoch kept
    is the one that fits it best. Returns the model directory."""
    from vietner.corpus import write_conll

    data = output_dir.parent / f"{output_dir.name}-data"
    for split in ("train", "test"):
        write_conll(corpus[split], data / f"{split}.conll", overwrite=True)
    command = [sys.executable, str(ROOT / "train.py"), "--config", config, "--overwrite"]
    for override in [
        f"output_dir={output_dir}",
        f"data.train_file={data / 'train.conll'}",
        f"data.dev_file={data / 'train.conll'}",
        f"data.test_file={data / 'test.conll'}",
        *overrides,
    ]:
        command += ["--set", override]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return output_dir / "model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "outputs" / "tiny" / "model", help="model directory to check")
    parser.add_argument("--train", action="store_true", help="train --config first (into outputs/raw-text-fit)")
    parser.add_argument("--config", default="configs/tiny.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for --train")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "annotated", help="folder of <article>.conll")
    parser.add_argument("--splits", type=Path, default=ROOT / "data" / "splits.json")
    parser.add_argument("--min-f1", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from vietner.corpus import read_corpus
    from vietner.evaluation.analysis import sentence_text
    from vietner.evaluation.taggers import spans_to_tags, token_offsets
    from vietner.schema import nfc
    from vietner.tagger import NerTagger
    from vietner.metrics import score_modes

    def evaluate_raw(tagger: NerTagger, sentences: list, batch_size: int) -> dict:
        gold = [s.tags for s in sentences]
        texts = [nfc(sentence_text(s)) for s in sentences]
        found = tagger.predict(texts, batch_size=batch_size)
        on_text = [spans_to_tags(token_offsets(t, [nfc(x) for x in s.tokens]), f) for s, t, f in zip(sentences, texts, found)]
        raw = score_modes(gold, on_text)["default"]["overall"]
        on_tokens = [list(p.tags) for p in tagger.predict_tokens([s.tokens for s in sentences], batch_size)]
        tokens = score_modes(gold, on_tokens)["default"]["overall"]
        return {"sentences": len(sentences), **{k: raw[k] for k in ("precision", "recall", "f1")}, "f1_on_gold_tokens": tokens["f1"]}

    corpus = read_corpus(args.data_dir, args.splits)

    model_dir = train(args.config, ROOT / "outputs" / "raw-text-fit", corpus, args.set) if args.train else args.model
    results: dict[str, dict] = {}
    tagger = NerTagger.from_pretrained(model_dir)
    results["train fp32"] = evaluate_raw(tagger, corpus["train"], args.batch_size)
    test = corpus["test"]
    for name, quantize in (("test fp32", None), ("test int8", "dynamic-int8")):
        tagger = NerTagger.from_pretrained(model_dir, quantize=quantize)
        tagger.predict([s.text for s in test[:8]])  # warm-up
        start = time.perf_counter()
        results[name] = evaluate_raw(tagger, test, args.batch_size)
        results[name]["seconds"] = time.perf_counter() - start
    print(json.dumps(results, indent=2))
    print(f"\nraw-text path on {model_dir}:")
    print("| split | sentences | P | R | F1 (raw text) | F1 (gold tokens) | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        seconds = f"{r['seconds']:.2f}" if "seconds" in r else ""
        scores = " | ".join(f"{r[key]:.4f}" for key in ("precision", "recall", "f1", "f1_on_gold_tokens"))
        print(f"| {name} | {r['sentences']} | {scores} | {seconds} |")
    fp32, int8 = results["test fp32"], results["test int8"]
    print(f"\nint8 on test: F1 {int8['f1'] - fp32['f1']:+.4f}, speed-up {fp32['seconds'] / int8['seconds']:.2f}x")
    ok = results["train fp32"]["f1"] >= args.min_f1
    print(f"training split F1 through raw text {results['train fp32']['f1']:.4f} {'>=' if ok else '<'} {args.min_f1}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
