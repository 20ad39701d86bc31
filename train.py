"""Fine-tune PhoBERT for Vietnamese NER (PER, ORG, LOC, MONEY, DATE) on the token-labelled corpus.

    python train.py --config configs/tiny.yaml                  # offline scratch model, 2 CPU cores, minutes
    python train.py --config configs/phobert-base.yaml          # vinai/phobert-base from the hub
    python train.py --config configs/phobert-base.yaml --set train.lr=3e-5 --set train.epochs=30
    python train.py --config configs/tiny.yaml --resume         # continue an interrupted run
    python train.py --config configs/tiny.yaml --overwrite      # start the output directory afresh
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 train.py --config configs/tiny.yaml  # 2 CPU processes
    accelerate launch --multi_gpu --num_processes 4 train.py --config configs/phobert-large.yaml

Reads top to bottom: config -> data -> tokenizer and model -> loop (train, score dev, keep the best,
checkpoint) -> score the best model on test -> save. Writes to ``output_dir`` (default
``outputs/<config name>/``): ``model/`` (loadable by plain transformers, plus ``vietner.json``),
``metrics.json``, ``log.jsonl``, ``config.yaml``, ``predictions/`` and ``checkpoints/last/``.
"""

from __future__ import annotations

import argparse
import sys

import torch
import transformers
from accelerate import Accelerator
from transformers import PhobertTokenizer, set_seed

from vietner.config import ConfigError, config_to_yaml, load_config
from vietner.corpus import CorpusFormatError, atomic_write_text
from vietner.modeling import ModelLoadError, build_model, load_model_dir, pretrained_tokenizer, replace_dir, save_model_dir, scratch_tokenizer
from vietner.segment import get_segmenter
from vietner.training import (
    SPLITS,
    DataError,
    RunState,
    check_resumable,
    encode_split,
    eval_loader,
    evaluate,
    load_checkpoint,
    load_splits,
    log_row,
    describe_epoch,
    make_optimizer,
    make_scheduler,
    model_settings,
    prepare_output_dir,
    save_checkpoint,
    segment_split,
    segmentation_ceiling,
    steps_per_epoch,
    train_epoch,
    train_loader,
    training_labels,
    write_json,
    write_jsonl,
    write_predictions,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/tiny.yaml", help="YAML config (default: configs/tiny.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. train.lr=3e-5")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--resume", action="store_true", help="continue from the output directory's last checkpoint")
    parser.add_argument(
        "--stop-after-epoch", type=int, default=None, metavar="N",
        help="exit once epoch N is done, leaving a checkpoint for --resume (for time-limited sessions)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    # ---- config -------------------------------------------------------------------------------------
    config = load_config(args.config, args.set)
    if config.train.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision=fp16 needs a CUDA GPU; use 'no' (or 'bf16') on CPU")
    accelerator = Accelerator(
        mixed_precision=config.train.mixed_precision,
        gradient_accumulation_steps=config.train.gradient_accumulation_steps,
    )
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    main_process = accelerator.is_main_process
    out = prepare_output_dir(config.output_dir or f"outputs/{config.name}", args.overwrite, args.resume, accelerator)
    if args.resume:
        check_resumable(config, (out / "config.yaml").read_text(encoding="utf-8"))
    set_seed(config.train.seed)

    # ---- data: sentences -> words (segmenter) -------------------------------------------------------
    splits = load_splits(config.data)
    labels = training_labels(splits)
    data = config.data
    segmenter = get_segmenter(
        data.segmenter, rdrsegmenter_dir=data.rdrsegmenter_dir, jvm_path=data.jvm_path, jvm_options=data.jvm_options
    )
    words = {split: segment_split(splits[split], segmenter, split_at_gold=split == "train") for split in SPLITS}
    if config.train.score_train_split:
        words["train-as-raw"] = segment_split(splits["train"], segmenter, split_at_gold=False)

    # ---- tokenizer and model ------------------------------------------------------------------------
    if config.model.name_or_path is None:
        # Learned once by the main process (the others read it), kept for --resume.
        tokenizer_dir = out / "tokenizer"
        with accelerator.main_process_first():
            if main_process and not (tokenizer_dir / "vocab.txt").is_file():
                tmp = out / ".tokenizer.tmp"
                scratch_tokenizer((w for s in words["train"] for w in s.words), tmp, config.model.scratch)
                replace_dir(tmp, tokenizer_dir)
            tokenizer = PhobertTokenizer.from_pretrained(str(tokenizer_dir))
    else:
        with accelerator.main_process_first():
            tokenizer = pretrained_tokenizer(config.model.name_or_path)
    model = build_model(config.model, labels, tokenizer, config.data.max_length)
    settings = model_settings(config, labels)
    if main_process and not args.resume:
        # Written once data and model are known to load, so a run that fails on bad input leaves nothing.
        atomic_write_text(out / "config.yaml", config_to_yaml(config), overwrite=True)

    # ---- model inputs: words -> subwords -> windows under the 256-token limit -----------------------
    overlap = config.data.window_overlap
    encoded = {split: encode_split(words[split], tokenizer, labels, config.data, 0 if split == "train" else overlap) for split in words}
    accelerator.print(
        f"{config.name}: {len(labels)} labels; "
        + ", ".join(f"{split} {len(e.sentences)} sentences / {len(e.dataset)} windows" for split, e in encoded.items() if split in SPLITS)
        + f"; {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters; {accelerator.num_processes} process(es) on {accelerator.device}"
    )

    # ---- optimizer, schedule, accelerate ------------------------------------------------------------
    train_batches = train_loader(encoded["train"], tokenizer, config.train)
    loaders = {split: eval_loader(encoded[split], tokenizer, config.train) for split in encoded if split != "train"}
    optimizer = make_optimizer(model, config.train)
    model, optimizer, train_batches, *prepared = accelerator.prepare(model, optimizer, train_batches, *loaders.values())
    loaders = dict(zip(loaders, prepared))
    total_steps = steps_per_epoch(len(train_batches), config.train.gradient_accumulation_steps) * config.train.epochs
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)
    scheduler = accelerator.prepare(make_scheduler(optimizer, config.train, total_steps, accelerator.num_processes))
    # Our LengthGroupedBatches, inside accelerate's per-process shard when there are several processes.
    sampler = getattr(train_batches.batch_sampler, "batch_sampler", train_batches.batch_sampler)

    state = RunState()
    if args.resume:
        state = RunState.from_dict(load_checkpoint(accelerator, out / "checkpoints" / "last"))
        accelerator.print(f"resumed after epoch {state.epoch} (step {state.step}, best dev F1 {state.best_f1:.4f})")
    metrics = {
        "config": config.name,
        "model": config.model.name_or_path or "scratch (PhoBERT architecture, random init, no pre-training)",
        "labels": labels,
        "selected_on": "last epoch" if config.train.select_on == "last" else f"dev {config.train.select_on} F1",
        "processes": accelerator.num_processes,
        "segmentation_ceiling_f1": {split: segmentation_ceiling(words[split]) for split in ("dev", "test")},
    }

    # ---- loop: train an epoch, score dev, keep the best, checkpoint ---------------------------------
    for epoch in range(state.epoch + 1, config.train.epochs + 1):
        if state.stopped:
            break
        # accelerate's loader counts its own iterations and passes them to the sampler; a resumed run must
        # see the same epoch number as an uninterrupted one, so set both.
        train_batches.set_epoch(epoch)
        sampler.set_epoch(epoch)
        stats, state.step = train_epoch(
            accelerator, model, train_batches, optimizer, scheduler, config.train.max_grad_norm,
            state.step, config.train.max_steps, f"epoch {epoch}",
        )
        dev, _ = evaluate(accelerator, model, loaders["dev"], encoded["dev"], "dev")
        fit = None
        if "train-as-raw" in loaders:  # how well the model fits its own training split, read as raw text
            fit, _ = evaluate(accelerator, model, loaders["train-as-raw"], encoded["train-as-raw"], "train")
        score = dev["strict" if config.train.select_on == "last" else config.train.select_on]["overall"]["f1"]
        improved = score > state.best_f1 or config.train.select_on == "last"
        if improved:
            state.best_f1, state.best_epoch, state.bad_epochs = score, epoch, 0
            if main_process:
                save_model_dir(out / "model", accelerator.unwrap_model(model), tokenizer, settings)
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        lr = scheduler.get_last_lr()[0]
        record = {"epoch": epoch, "step": state.step, "train_loss": stats.loss, "lr": lr, "dev": dev}
        if fit:
            record["train"] = fit
        state.history.append(record)
        state.log.append(log_row(record, stats, improved))
        accelerator.print(describe_epoch(state.log[-1]))
        if config.train.patience and state.bad_epochs >= config.train.patience:
            state.stopped = f"early stopping: no better dev F1 for {state.bad_epochs} epochs"
        elif config.train.max_steps is not None and state.step >= config.train.max_steps:
            state.stopped = f"max_steps {config.train.max_steps} reached"
        elif epoch == config.train.epochs:
            state.stopped = f"all {epoch} epochs done"
        if main_process:
            write_jsonl(out / "log.jsonl", state.log)
            write_json(out / "metrics.json", {**metrics, "best_epoch": state.best_epoch, "epochs": state.history, "test": None})
        save_checkpoint(accelerator, out / "checkpoints" / "last", state.to_dict())
        if args.stop_after_epoch is not None and epoch >= args.stop_after_epoch and not state.stopped:
            accelerator.print(f"stopping after epoch {epoch} as asked; continue with --resume")
            return 0

    # ---- the best model on test (and on the training split, if asked) -------------------------------
    accelerator.print(f"{state.stopped}; scoring the best model (epoch {state.best_epoch}) on test")
    accelerator.wait_for_everyone()
    best = load_model_dir(out / "model")
    accelerator.unwrap_model(model).load_state_dict(best.model.state_dict())
    final = {}
    for split, loader in loaders.items():
        scores, predictions = evaluate(accelerator, model, loader, encoded[split], split)
        final[split] = scores
        if main_process:
            write_predictions(out / "predictions" / f"{split}.conll", splits["train" if split == "train-as-raw" else split], predictions)
    metrics.update({"best_epoch": state.best_epoch, "stopped": state.stopped, "epochs": state.history, "test": final["test"]})
    if "train-as-raw" in final:
        metrics["train"] = final["train-as-raw"]
    if main_process:
        write_json(out / "metrics.json", metrics)
    test = final["test"]
    accelerator.print(
        f"test F1 strict {test['strict']['overall']['f1']:.4f} default {test['default']['overall']['f1']:.4f}"
        + (f"; train F1 strict {metrics['train']['strict']['overall']['f1']:.4f}" if "train" in metrics else "")
        + f"; model in {out / 'model'}"
    )
    accelerator.end_training()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (ConfigError, DataError, ModelLoadError, CorpusFormatError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
