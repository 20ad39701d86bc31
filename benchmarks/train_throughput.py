"""Training throughput: this project's loop against a reference loop written like transformers' run_ner_no_trainer.py.

    python benchmarks/train_throughput.py                       # PhoBERT-base architecture, whole corpus
    python benchmarks/train_throughput.py --rounds 3 --batch-size 32 --mixed-precision fp16   # on a GPU
    python benchmarks/train_throughput.py --small               # a quick smoke run with a tiny model

Both loops train the same model (PhoBERT-base's architecture built from its config at random init, so
nothing is downloaded: RoBERTa, 12 layers, hidden 768, 64,001-token vocabulary, 258 positions) on the same
encoded windows of this corpus (all annotated articles: segmented, aligned word by word, windows under 256
tokens), with the same batch size, optimizer (AdamW, no decay on bias/LayerNorm), schedule and precision,
from the same initial weights. What differs is how batches are formed and run:

* reference, as run_ner_no_trainer.py: ``DataLoader(shuffle=True)`` with ``DataCollatorForTokenClassification``
  (dynamic padding, no length grouping) and its loop (``model(**batch)``, ``accelerator.backward``, step);
* this project: :func:`vietner.batching.train_loader` (length-grouped batches of whole sentences, dynamic
  padding) and ``train.py``'s step loop.

Reported: real (non-padding) tokens per second of each, their ratio, and each loop's padding fraction
(padding positions / all positions in its batches). Rounds alternate the two loops so that a change in
machine load hits both; the medians are reported.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import DataCollatorForTokenClassification, RobertaConfig, RobertaForTokenClassification, set_seed

from datasets import Dataset

from vietner.config import ScratchConfig, load_config
from vietner.corpus import read_conll, to_dataset
from vietner.encoding import Preprocessor
from vietner.modeling import NerModel, phobert_base_config, scratch_tokenizer
from vietner.schema import labels_for, types_of
from vietner.batching import encode_train, train_loader
from vietner.sources import train_words
from vietner.training import EpochMeter, make_optimizer, make_scheduler

ROOT = Path(__file__).resolve().parent.parent


def benchmark_config(labels: list[str], small: bool = False) -> RobertaConfig:
    """PhoBERT-base's architecture, or a tiny one for smoke runs."""
    small_sizes = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    return phobert_base_config(labels, **(small_sizes if small else {}))


def reference_epoch(accelerator: Accelerator, model, loader, optimizer, scheduler) -> dict[str, float]:
    """One epoch the way run_ner_no_trainer.py trains (gradient accumulation 1)."""
    model.train()
    tokens = positions = 0
    start = time.perf_counter()
    for batch in loader:
        outputs = model(**batch)
        loss = outputs.loss
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        tokens += int(batch["attention_mask"].sum())
        positions += batch["attention_mask"].numel()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"tokens": tokens, "positions": positions, "seconds": seconds}


def vietner_epoch(accelerator: Accelerator, model, loader, optimizer, scheduler, max_grad_norm: float) -> dict[str, float]:
    """One epoch of ``train.py``'s step loop, as written there."""
    model.train()
    meter = EpochMeter()
    start = time.perf_counter()
    for batch in loader:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        meter.update(loss, batch)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return {"tokens": meter.tokens, "positions": meter.padded, "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "data" / "annotated"), help="folder of CoNLL files (all are used)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="epochs per loop, alternating")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--segmenter", default="underthesea")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--small", action="store_true", help="a tiny model instead of PhoBERT-base (smoke test)")
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    overrides = [f"train.batch_size={args.batch_size}", f"train.seed={args.seed}", f"train.mixed_precision={args.mixed_precision}",
                 f"data.segmenter={args.segmenter}", "train.epochs=1", "train.warmup_ratio=0"]
    config = load_config(ROOT / "configs" / "phobert-base.yaml", overrides)

    # Data: every annotated sentence, encoded exactly as train.py encodes the training split.
    files = sorted(Path(args.data).glob("*.conll"))
    if not files:
        print(f"error: no .conll files in {args.data}", file=sys.stderr)
        return 2
    dataset = to_dataset(s for f in files for s in read_conll(f))
    labels = labels_for(types_of(tag for tags in dataset["tags"] for tag in tags))
    preprocessor = Preprocessor(None, config.data)
    words = train_words(dataset, preprocessor)
    with tempfile.TemporaryDirectory() as directory:
        strings = (w for t, s in zip(dataset["tokens"], words) for w in preprocessor.word_strings(t, s))
        preprocessor.tokenizer = tokenizer = scratch_tokenizer(strings, directory, ScratchConfig())
    encoded = encode_train(dataset, words, preprocessor, labels)
    # The reference reads one window per example, as run_ner_no_trainer.py reads one sequence.
    windows = Dataset.from_dict({key: [w for row in encoded[key] for w in row] for key in ("input_ids", "labels")})

    set_seed(args.seed)
    initial = RobertaForTokenClassification(benchmark_config(labels, args.small)).state_dict()

    def fresh_model() -> RobertaForTokenClassification:
        model = RobertaForTokenClassification(benchmark_config(labels, args.small))
        model.load_state_dict(copy.deepcopy(initial))
        return model

    # Reference: shuffled DataLoader + DataCollatorForTokenClassification, as run_ner_no_trainer.py.
    ref_model = fresh_model()
    ref_loader = DataLoader(
        windows, shuffle=True, batch_size=args.batch_size,
        collate_fn=DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=8 if args.mixed_precision != "no" else None),
    )
    ref_optimizer = make_optimizer(ref_model, config.train)
    ref_model, ref_optimizer, ref_loader = accelerator.prepare(ref_model, ref_optimizer, ref_loader)
    ref_scheduler = accelerator.prepare(make_scheduler(ref_optimizer, config.train, len(ref_loader) * args.rounds, accelerator.num_processes))

    # This project: length-grouped batches of whole sentences, dynamic padding, train.py's step loop.
    our_model = NerModel(fresh_model(), "softmax")
    our_loader = train_loader(encoded, tokenizer.pad_token_id, config.train)
    our_optimizer = make_optimizer(our_model, config.train)
    our_model, our_optimizer, our_loader = accelerator.prepare(our_model, our_optimizer, our_loader)
    our_scheduler = accelerator.prepare(make_scheduler(our_optimizer, config.train, len(our_loader) * args.rounds, accelerator.num_processes))

    n_params = sum(p.numel() for p in ref_model.parameters())
    print(
        f"model: {'tiny' if args.small else 'PhoBERT-base architecture'} ({n_params / 1e6:.1f}M parameters, random init); "
        f"data: {len(dataset)} sentences, {len(windows)} windows, {sum(map(len, windows['input_ids']))} tokens; "
        f"batch {args.batch_size}; precision {args.mixed_precision}; device {accelerator.device}; torch threads {torch.get_num_threads()}"
    )
    results: dict[str, list[dict[str, float]]] = {"reference": [], "vietner": []}
    for round_ in range(1, args.rounds + 1):
        ref = reference_epoch(accelerator, ref_model, ref_loader, ref_optimizer, ref_scheduler)
        results["reference"].append(ref)
        our_loader.set_epoch(round_)
        ours = vietner_epoch(accelerator, our_model, our_loader, our_optimizer, our_scheduler, config.train.max_grad_norm)
        results["vietner"].append(ours)
        print(
            f"round {round_}: reference {ref['tokens'] / ref['seconds']:.0f} tokens/s; "
            f"vietner {ours['tokens'] / ours['seconds']:.0f} tokens/s"
        )

    def summary(rows: list[dict[str, float]]) -> dict[str, float]:
        return {
            "tokens_per_s": statistics.median(r["tokens"] / r["seconds"] for r in rows),
            "padding_fraction": 1 - sum(r["tokens"] for r in rows) / sum(r["positions"] for r in rows),
            "seconds_per_epoch": statistics.median(r["seconds"] for r in rows),
        }

    ref_summary, our_summary = summary(results["reference"]), summary(results["vietner"])
    ratio = our_summary["tokens_per_s"] / ref_summary["tokens_per_s"]
    print(
        f"reference: {ref_summary['tokens_per_s']:.0f} tokens/s, padding {ref_summary['padding_fraction']:.1%}\n"
        f"vietner:   {our_summary['tokens_per_s']:.0f} tokens/s, padding {our_summary['padding_fraction']:.1%}\n"
        f"ratio: {ratio:.2f}x (target >= 1.3x)"
    )
    if args.output:
        report = {
            "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            + (torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"),
            "torch": torch.__version__,
            "args": vars(args),
            "reference": ref_summary,
            "vietner": our_summary,
            "ratio": ratio,
            "rounds": results,
        }
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
