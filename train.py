"""Fine-tune PhoBERT for Vietnamese NER on token-labelled sentences, and score it as users will run it.

    python train.py --config configs/tiny.yaml                  # offline scratch model, 2 CPU cores, minutes
    python train.py --config configs/phobert-base.yaml          # vinai/phobert-base from the hub
    python train.py --config configs/phobert-base.yaml --set train.lr=3e-5 --set model.head=crf
    python train.py --config configs/tiny.yaml --resume         # continue an interrupted run
    python train.py --config configs/tiny.yaml --overwrite      # a new run replaces the old one once it succeeds
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 train.py --config configs/tiny.yaml
    accelerate launch --multi_gpu --num_processes 4 train.py --config configs/phobert-large.yaml

Reads top to bottom: config -> data -> model -> the step loop -> dev score (the prediction core that
``NerTagger.predict`` uses) -> keep the best -> checkpoint -> test. Writes to ``output_dir`` (default
``outputs/<config name>/``): ``model/`` (with its model card, ``README.md``), ``metrics.json``, ``log.jsonl``,
``config.yaml``, ``predictions/`` and ``checkpoints/last/``.
"""

from __future__ import annotations

import argparse
import sys
import time

import transformers
from tqdm.auto import tqdm

from vietner.config import ConfigError, config_to_yaml, load_config
from vietner.corpus import CorpusFormatError
from vietner.encoding import Preprocessor
from vietner.evaluation.analysis import bootstrap
from vietner.model_card import build_card, label_maps_of, write_card
from vietner.modeling import ModelLoadError, build_model, load_model_dir, save_model_dir
from vietner.batching import encode_train, train_loader
from vietner.checkpoints import (
    OutputDir, RunDirError, RunState, check_resumable, load_checkpoint, read_run_config, run_inputs, save_checkpoint,
)
from vietner.evaluation.taggers import dictionary_baseline_f1
from vietner.schema import labels_for
from vietner.sources import DataError, format_sources, load_splits, train_words, training_types
from vietner.storage import atomic_write_text, os_error_line
from vietner.training import (
    EpochMeter, final_summary, make_accelerator, make_optimizer, make_scheduler, model_settings, run_metadata,
    score_split, scoring_tagger, steps_per_epoch, training_tokenizer, write_json, write_jsonl, write_predictions,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/tiny.yaml", help="YAML config (default: configs/tiny.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting, e.g. train.lr=3e-5")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run directory once this run succeeds")
    parser.add_argument("--resume", action="store_true", help="continue from the output directory's last checkpoint")
    parser.add_argument("--stop-after-epoch", type=int, default=None, metavar="N", help="exit after epoch N, resumable")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, state: RunState) -> int:
    # ---- config -------------------------------------------------------------------------------------
    config = load_config(args.config, args.set)
    accelerator = make_accelerator(config.train)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    path = config.output_dir or f"outputs/{config.name}"
    inputs = run_inputs(config, args.config)
    with OutputDir(path, args.overwrite, args.resume, inputs, accelerator, state) as run_dir:
        status = train_in(args, state, config, accelerator, run_dir)
    accelerator.end_training()  # after the run directory is published: it waits for every process
    return status


def train_in(args: argparse.Namespace, state: RunState, config, accelerator, run_dir: OutputDir) -> int:
    """The run itself, writing into ``run_dir.work`` (the output directory, or beside it for --overwrite)."""
    main_process, train, out = accelerator.is_main_process, config.train, run_dir.work
    if args.resume:
        note = check_resumable(config, read_run_config(out))
        if note:
            accelerator.print(note)
    transformers.set_seed(train.seed)

    # ---- data: sentences -> words; the model's labels -----------------------------------------------
    reading: dict = {}
    splits = load_splits(config.data, reading)
    labels = labels_for(training_types(splits))
    preprocessor = Preprocessor(None, config.data)
    words = train_words(splits["train"], preprocessor)

    # ---- model --------------------------------------------------------------------------------------
    tokenizer = training_tokenizer(config, out, accelerator, (w for t, s in zip(splits["train"]["tokens"], words) for w in preprocessor.word_strings(t, s)))
    preprocessor.tokenizer = tokenizer
    model = build_model(config.model, labels, tokenizer, config.data.max_length)
    config.data.check_model(model.config)
    settings = model_settings(config, labels)
    if main_process and not args.resume:  # written once data and model load, so bad input leaves nothing
        atomic_write_text(out / "config.yaml", config_to_yaml(config), overwrite=True)

    # ---- batches, optimizer, schedule, accelerate ---------------------------------------------------
    loader = train_loader(encode_train(splits["train"], words, preprocessor, labels), tokenizer.pad_token_id, train)
    model, optimizer, loader = accelerator.prepare(model, make_optimizer(model, train), loader)
    total_steps = steps_per_epoch(len(loader), train.gradient_accumulation_steps) * train.epochs
    total_steps = min(total_steps, train.max_steps or total_steps)
    scheduler = accelerator.prepare(make_scheduler(optimizer, train, total_steps, accelerator.num_processes))
    sampler = getattr(loader.batch_sampler, "batch_sampler", loader.batch_sampler)  # ours, inside accelerate's shard
    tagger = scoring_tagger(accelerator, model, preprocessor, train)  # NerTagger on the run's one preprocessor
    if args.resume:
        vars(state).update(load_checkpoint(accelerator, out / "checkpoints" / "last"))
        accelerator.print(f"resumed after epoch {state.epoch} (step {state.step}, best dev F1 {state.best_f1:.4f})")
    metrics = run_metadata(config, labels, accelerator.num_processes, splits, preprocessor, reading)
    accelerator.print(format_sources(metrics["sources"]))

    # ---- the loop: train an epoch, score dev, keep the best, checkpoint -----------------------------
    for epoch in range(state.epoch + 1, train.epochs + 1):
        if state.stopped:
            break
        model.train()
        loader.set_epoch(epoch)  # accelerate's loader and our sampler both see the epoch, so --resume
        sampler.set_epoch(epoch)  # draws the same batches as an uninterrupted run
        meter, start = EpochMeter(), time.perf_counter()
        for batch in tqdm(loader, desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process, leave=False):
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients and train.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), train.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            meter.update(loss, batch)
            state.step += int(accelerator.sync_gradients)
            if train.max_steps is not None and state.step >= train.max_steps:
                break
        dev, _ = score_split(accelerator, tagger, splits["dev"], train.eval_batch_size)
        fit = score_split(accelerator, tagger, splits["train"], train.eval_batch_size)[0] if train.score_train_split else None
        if state.record(epoch, dev, fit, meter.summary(accelerator, time.perf_counter() - start), scheduler.get_last_lr()[0], train) and main_process:
            so_far = {**metrics, "best_epoch": state.best_epoch, "epochs": state.history, "test": None}
            card = build_card(so_far, settings, config.name, label_maps_of(config.data), str(out / "model"))
            save_model_dir(out / "model", accelerator.unwrap_model(model), tokenizer, settings, card)
        accelerator.print(state.describe())
        if main_process:
            write_jsonl(out / "log.jsonl", state.log)
            write_json(out / "metrics.json", {**metrics, "best_epoch": state.best_epoch, "epochs": state.history, "test": None})
        save_checkpoint(accelerator, out / "checkpoints" / "last", state)
        if args.stop_after_epoch is not None and epoch >= args.stop_after_epoch and not state.stopped:
            accelerator.print(f"stopping after epoch {epoch} as asked; continue with --resume")
            return 0

    # ---- the kept model on dev and test (and the training split, if asked) --------------------------
    accelerator.print(f"{state.stopped}; scoring the kept model (epoch {state.best_epoch})")
    accelerator.wait_for_everyone()
    accelerator.unwrap_model(model).load_state_dict(load_model_dir(out / "model").model.state_dict())
    final = {}
    for split in ("dev", "test") + (("train",) if train.score_train_split else ()):
        final[split], predicted = score_split(accelerator, tagger, splits[split], train.eval_batch_size)
        if main_process:
            write_predictions(out / "predictions" / f"{split}.conll", splits[split], predicted)
        if split == "test":  # the model card's interval
            interval = bootstrap(splits["test"]["tags"], predicted, "strict", 1000, train.seed)
    metrics.update(best_epoch=state.best_epoch, stopped=state.stopped, epochs=state.history, **final)
    metrics["test_bootstrap"] = interval
    metrics["test_dictionary_baseline_f1"] = dictionary_baseline_f1(splits["train"], splits["test"])
    if main_process:
        write_json(out / "metrics.json", metrics)
        write_card(out / "model", metrics, settings, config.name, label_maps_of(config.data))
    accelerator.print(final_summary(metrics, run_dir.given / "model"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args, state = parse_args(argv), RunState()
    try:
        return run(args, state)
    except (ConfigError, DataError, RunDirError, ModelLoadError, CorpusFormatError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a read-only or vanished output: the file and the reason
        print(f"error: {os_error_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        done = f"after epoch {state.checkpointed}; continue with --resume" if state.checkpointed else "before the first checkpoint; nothing to resume"
        print(f"interrupted {done}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
