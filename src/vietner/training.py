"""The pieces ``train.py`` strings together besides data, batches and checkpoints: the accelerator, the
tokenizer, the optimizer and schedule, scoring, and the run's outputs.

Data sources and the label list are in :mod:`vietner.sources`, batches in :mod:`vietner.batching`, output
directories, checkpoints and :class:`RunState` in :mod:`vietner.checkpoints`.

Scoring: dev and test are tagged by ``NerTagger.predict_tokens`` on the gold syllables, as ``evaluate.py
--model`` tags them (the prediction core behind ``NerTagger.predict`` too), and scored with seqeval on the
entities it returns. Under
several processes each scores a share of the sentences and the shares are gathered; every sentence must be
scored exactly once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from datasets import Dataset, DatasetDict
from transformers import get_linear_schedule_with_warmup

from .config import Config, ConfigError, Preprocessing, TrainConfig
from .corpus import atomic_write_text, format_conll, from_dataset
from .encoding import Preprocessor
from .metrics import f1, score_modes
from .modeling import ModelSettings
from .tagger import NerTagger
from .segment import syllable_tags, word_tags
from .sources import source_counts
from .storage import atomic_directory

# Kept for one release: these names moved to vietner.sources, vietner.batching and vietner.checkpoints.
from .batching import LengthGroupedBatches, collate, encode_train, train_loader  # noqa: E402,F401
from .checkpoints import (  # noqa: E402,F401
    CHECKPOINT_STATE, RunState, check_resumable, load_checkpoint, save_checkpoint,
)
from .sources import SPLITS, DataError, format_sources, load_splits, train_words  # noqa: E402,F401

__all__ = [
    "make_accelerator",
    "training_tokenizer",
    "segmentation_ceiling",
    "optimizer_groups",
    "make_optimizer",
    "make_scheduler",
    "steps_per_epoch",
    "scoring_tagger",
    "score_split",
    "model_settings",
    "write_predictions",
    "write_json",
    "write_jsonl",
    "run_metadata",
    "final_summary",
    "EpochMeter",
]


def make_accelerator(train: TrainConfig) -> Accelerator:
    """Return the run's ``Accelerator``: mixed precision and gradient accumulation as ``train`` says."""
    if train.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision=fp16 needs a CUDA GPU; use 'no' (or 'bf16') on CPU")
    return Accelerator(mixed_precision=train.mixed_precision, gradient_accumulation_steps=train.gradient_accumulation_steps)


def training_tokenizer(config: Config, out: Path, accelerator: Accelerator, words: Iterator[str]) -> Any:
    """Return the model's tokenizer: the checkpoint's, or for the scratch model a vocabulary learned from the
    training ``words`` once by the main process (the others read it) and kept in ``out/tokenizer`` for
    ``--resume``."""
    from transformers import PhobertTokenizer

    from .vocabulary import pretrained_tokenizer, scratch_tokenizer

    with accelerator.main_process_first():
        if config.model.name_or_path is not None:
            return pretrained_tokenizer(config.model.name_or_path)
        directory = out / "tokenizer"
        if accelerator.is_main_process and not (directory / "vocab.txt").is_file():
            with atomic_directory(directory, overwrite=True) as tmp:
                scratch_tokenizer(words, tmp, config.model.scratch)
        return PhobertTokenizer.from_pretrained(str(directory))


def segmentation_ceiling(dataset: Dataset, preprocessor: Preprocessor) -> float:
    """Return the strict F1 of gold tags sent through the words of raw-text segmentation and back: the best
    any model can score through this segmenter."""
    projected = [
        syllable_tags(spans, word_tags(spans, tags))
        for spans, tags in zip(preprocessor.words_many(dataset["tokens"]), dataset["tags"])
    ]
    return f1(score_modes(dataset["tags"], projected))


# --------------------------------------------------------------------------------------------------------
# Optimization.


def optimizer_groups(model: torch.nn.Module, train: TrainConfig) -> list[dict[str, Any]]:
    """Return AdamW parameter groups: weight decay on weight matrices, none on biases and LayerNorm weights;
    a CRF head's transitions in a group of their own at ``train.crf_lr``, without weight decay."""
    decay, no_decay, crf = [], [], []
    no_decay_names = set()
    for module_name, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            if isinstance(module, torch.nn.LayerNorm) or name.endswith("bias"):
                no_decay_names.add(f"{module_name}.{name}" if module_name else name)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            group = crf if name.startswith("crf.") else no_decay if name in no_decay_names else decay
            group.append(parameter)
    groups = [{"params": decay, "weight_decay": train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if crf:
        groups.append({"params": crf, "weight_decay": 0.0, "lr": train.crf_lr})
    return groups


def make_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """Return AdamW over :func:`optimizer_groups`."""
    return torch.optim.AdamW(optimizer_groups(model, train), lr=train.lr)


def make_scheduler(
    optimizer: torch.optim.Optimizer, train: TrainConfig, total_steps: int, num_processes: int = 1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Return transformers' linear warmup/decay schedule over ``total_steps`` optimizer steps.

    accelerate steps a prepared scheduler once per process per optimizer step, so the step counts are
    scaled by ``num_processes``.
    """
    warmup = math.ceil(train.warmup_ratio * total_steps)
    return get_linear_schedule_with_warmup(optimizer, warmup * num_processes, total_steps * num_processes)


def steps_per_epoch(batches_per_process: int, accumulation: int) -> int:
    """Return optimizer steps per epoch for ``batches_per_process`` batches and gradient accumulation."""
    return math.ceil(batches_per_process / accumulation)


# --------------------------------------------------------------------------------------------------------
# Scoring: the prediction core on each process's share of the sentences.


# The autocast NerTagger applies for each of train.mixed_precision's settings (accelerate's own, for scoring).
_SCORING_DTYPES = {"no": "fp32", "bf16": "bf16", "fp16": "fp16"}


def scoring_tagger(accelerator: Accelerator, model: torch.nn.Module, preprocessor: Preprocessor, train: TrainConfig) -> NerTagger:
    """The ``NerTagger`` that scores the model being trained: the run's own preprocessor (a sentence is
    segmented once per run), its device and mixed precision."""
    model = accelerator.unwrap_model(model)
    return NerTagger(model, preprocessor.tokenizer, device=accelerator.device, dtype=_SCORING_DTYPES[train.mixed_precision],
                     preprocessor=preprocessor)


def score_split(
    accelerator: Accelerator, tagger: NerTagger, dataset: Dataset, batch_size: int
) -> tuple[dict[str, Any], list[list[str]]]:
    """Tag ``dataset``'s gold syllables with ``tagger.predict_tokens`` (what ``evaluate.py --model`` calls)
    and score the entities it returns with seqeval (both modes); return ``(scores, predicted syllable
    tags)``. Raises ``RuntimeError`` unless every sentence comes back exactly once from the processes."""
    mine = list(range(accelerator.process_index, len(dataset), accelerator.num_processes))
    predictions = tagger.predict_tokens([dataset[i]["tokens"] for i in mine], batch_size) if mine else []
    gathered = gather_object([(i, list(p.tags)) for i, p in zip(mine, predictions)])
    by_index = dict(gathered)
    if len(gathered) != len(dataset) or len(by_index) != len(dataset):
        raise RuntimeError(
            f"scoring got {len(gathered)} predictions for {len(by_index)} of {len(dataset)} sentences; "
            "every sentence must be scored exactly once"
        )
    predicted = [by_index[i] for i in range(len(dataset))]
    scores = score_modes(dataset["tags"], predicted)
    scores["sentences"] = len(dataset)
    return scores, predicted


def model_settings(config: Config, labels: Sequence[str]) -> ModelSettings:
    """Return the ``vietner.json`` settings for a model trained with ``config``."""
    return ModelSettings(
        labels=list(labels),
        preprocessing=Preprocessing.of(config.data),
        head=config.model.head,
        base_model=config.model.name_or_path,
    )


def write_predictions(path: str | os.PathLike, dataset: Dataset, predictions: Sequence[Sequence[str]]) -> None:
    """Write ``TOKEN<TAB>GOLD<TAB>PRED`` CoNLL (one block per sentence, with its id) atomically."""
    sentences = from_dataset(dataset)
    atomic_write_text(path, format_conll(sentences, [list(p) for p in predictions]), overwrite=True)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(value, ensure_ascii=False, indent=2) + "\n", overwrite=True)


def write_jsonl(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines to ``path`` atomically (the whole log, so a resumed run never duplicates)."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), overwrite=True)


def run_metadata(
    config: Config, labels: Sequence[str], processes: int, splits: DatasetDict, preprocessor: Preprocessor,
    reading: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The head of ``metrics.json``: what was trained, on which labels, how the kept model is chosen, and the
    best F1 the segmentation allows on dev and test."""
    return {
        "config": config.name,
        "model": config.model.name_or_path or "scratch (PhoBERT architecture, random init, no pre-training)",
        "labels": list(labels),
        "selected_on": "last epoch" if config.train.select_on == "last" else "dev micro F1 of the entities predict() returns",
        "processes": processes,
        "sources": source_counts(splits, config.data, reading),
        "segmentation_ceiling_f1": {split: segmentation_ceiling(splits[split], preprocessor) for split in ("dev", "test")},
    }


def final_summary(metrics: dict[str, Any], model_dir: Path) -> str:
    """The closing lines of a run: what the model is, its test F1 beside the dictionary baseline's, where it is."""
    test = metrics["test"]["strict"]["overall"]
    lines = []
    if metrics["model"].startswith("scratch"):
        lines.append("This is a scratch model (PhoBERT's architecture, random init, NO pre-training): its scores say nothing about PhoBERT.")
    lines.append(
        f"test micro F1 {test['f1']:.4f} (P {test['precision']:.4f}, R {test['recall']:.4f}; model of epoch {metrics['best_epoch']}); "
        f"the dictionary baseline scores {metrics['test_dictionary_baseline_f1']:.4f} on the same split"
    )
    lines.append(f"model in {model_dir} (NerTagger.from_pretrained, or: python evaluate.py --model {model_dir})")
    return "\n".join(lines)


@dataclass
class EpochMeter:
    """Loss, tokens and padding of an epoch's batches, for the log line."""

    loss: float = 0.0
    batches: int = 0
    tokens: int = 0
    padded: int = 0

    def update(self, loss: torch.Tensor, batch: dict[str, torch.Tensor]) -> None:
        """Count one batch."""
        self.loss += float(loss.detach())
        self.batches += 1
        self.tokens += int(batch["attention_mask"].sum())
        self.padded += batch["attention_mask"].numel()

    def summary(self, accelerator: Accelerator, seconds: float) -> dict[str, float]:
        """Return the epoch's mean loss, tokens/s and padding fraction, summed over processes."""
        totals = accelerator.reduce(
            torch.tensor([self.loss, self.batches, self.tokens, self.padded], dtype=torch.float64, device=accelerator.device), "sum"
        ).tolist()
        return {
            "train_loss": round(totals[0] / max(totals[1], 1), 6),
            "train_tokens_per_s": round(totals[2] / seconds, 1) if seconds else 0.0,
            "padding_fraction": round(1 - totals[2] / totals[3], 4) if totals[3] else 0.0,
            "seconds": round(seconds, 2),
        }


def __getattr__(name: str) -> Any:
    # Kept for one release: the dictionary baseline moved to vietner.evaluation.taggers, above this module.
    if name == "dictionary_baseline_f1":
        from .evaluation.taggers import dictionary_baseline_f1

        return dictionary_baseline_f1
    raise AttributeError(f"module 'vietner.training' has no attribute {name!r}")
