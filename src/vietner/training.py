"""The pieces ``train.py`` strings together: data, batches, optimizer, scoring, outputs, and the run's state.

Data: gold sentences (syllables + IOB2 tags) go through the one preprocessing path
(:class:`vietner.encoding.Preprocessor`): words from the segmenter (split at gold entity boundaries, in
training only), subwords, windows under the position limit. A training example is a whole sentence with all
its windows, so a CRF head is trained on the sentence's word emissions as it is decoded.

Scoring: dev and test are tagged by :class:`vietner.prediction.Predictor`, the core ``NerTagger.predict``
and ``evaluate.py`` use, on the gold syllables, and scored with seqeval on the entities it returns. Under
several processes each scores a share of the sentences and the shares are gathered; every sentence must be
scored exactly once.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from datasets import Dataset, DatasetDict, concatenate_datasets
from torch.utils.data import DataLoader, Sampler
from transformers import get_linear_schedule_with_warmup

from .config import Config, ConfigError, DataConfig, Preprocessing, TrainConfig, config_to_dict, warn
from .corpus import (
    CorpusFormatError, Sentence, apply_label_map, atomic_write_text, format_conll, from_dataset, read_conll, read_corpus,
    to_dataset,
)
from .encoding import IGNORE_INDEX, Preprocessor
from .metrics import f1, score_modes
from .modeling import ModelSettings
from .prediction import Predictor
from .schema import entity_type, labels_for, types_of
from .segment import syllable_tags, word_tags
from .storage import atomic_directory, recover, replace_dir

__all__ = [
    "DataError",
    "SPLITS",
    "load_splits",
    "source_counts",
    "format_sources",
    "training_labels",
    "train_words",
    "make_accelerator",
    "training_tokenizer",
    "encode_train",
    "segmentation_ceiling",
    "LengthGroupedBatches",
    "collate",
    "train_loader",
    "optimizer_groups",
    "make_optimizer",
    "make_scheduler",
    "steps_per_epoch",
    "score_split",
    "dictionary_baseline_f1",
    "prepare_output_dir",
    "save_checkpoint",
    "load_checkpoint",
    "check_resumable",
    "model_settings",
    "write_predictions",
    "write_json",
    "write_jsonl",
    "run_metadata",
    "final_summary",
    "EpochMeter",
    "RunState",
]

SPLITS = ("train", "dev", "test")
CHECKPOINT_STATE = "trainer_state.json"


class DataError(ValueError):
    """Training data that cannot be used; the message is one line saying what and where."""


# --------------------------------------------------------------------------------------------------------
# Data.


def load_splits(data: DataConfig) -> DatasetDict:
    """Return the train/dev/test sentences (``sent_id``, ``tokens``, ``tags`` columns) named by ``data``.

    Either the project corpus (``data.dir`` + ``data.splits``) or the user's own three CoNLL files, with
    ``data.label_map`` applied to all three. The training split then gets the sentences of each
    ``data.extra_train`` file, read on its own with its scheme and label map (files are joined as
    sentences, never as text); its ``source`` column says where each came from (0: the train split,
    ``i``: ``extra_train[i - 1]``). A map key that never occurs in its data, or a type an extra file brings
    that train/dev/test lack, is a one-line warning. Raises ``CorpusFormatError`` for a missing or
    unreadable file (naming its config key) and ``DataError`` for an empty split.
    """
    splits, sources = _primary_splits(data)
    for split in SPLITS:
        if not splits[split]:
            raise DataError(f"the {split} split is empty: no sentences in {sources[split]}")
    primary_types = set(types_of(t for sentences in splits.values() for s in sentences for t in s.tags))
    parts = [to_dataset(splits["train"])]
    for i, source in enumerate(data.extra_train):
        key = f"data.extra_train[{i}]"
        sentences = _read_source(source.path, source.scheme, source.label_map, key)
        # The types it can bring: its map's targets, or without a map every type of the file.
        targets = source.label_map.values() if source.label_map is not None else types_of(t for s in sentences for t in s.tags)
        brought = set(targets) - {"O"}
        if brought - primary_types:
            warn(f"{key}: type(s) {', '.join(sorted(brought - primary_types))} occur nowhere in the train/dev/test data: "
                 "the model learns them but they are never scored (map them to O to drop them)")
        parts.append(to_dataset(sentences))
    train = concatenate_datasets([part.add_column("source", [i] * len(part)) for i, part in enumerate(parts)])
    return DatasetDict({"train": train, "dev": to_dataset(splits["dev"]), "test": to_dataset(splits["test"])})


def _primary_splits(data: DataConfig) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """The train/dev/test sentences with ``data.label_map`` applied, and where each split came from."""
    if data.train_file:
        files = {"train": data.train_file, "dev": data.dev_file, "test": data.test_file}
        splits = {split: _read_source(path, data.scheme, data.label_map, f"data.{split}_file") for split, path in files.items()}
        return splits, {split: str(path) for split, path in files.items()}
    corpus = read_corpus(data.dir, data.splits)
    # One warning per unused key for the whole corpus, not one per split.
    for note in apply_label_map([s for split in SPLITS for s in corpus[split]], data.label_map, data.dir)[1]:
        warn(note)
    splits = {split: apply_label_map(corpus[split], data.label_map, data.dir)[0] for split in SPLITS}
    return splits, {split: f"the {split!r} articles of {data.splits}" for split in SPLITS}


def _read_source(path: str, scheme: str, label_map: dict[str, str] | None, key: str) -> list[Sentence]:
    """Read one CoNLL file of the config key ``key`` and apply its label map, warning of unused map keys."""
    try:
        sentences = read_conll(path, scheme)
    except CorpusFormatError as error:
        raise CorpusFormatError(f"{key}: {error}") from None
    mapped, notes = apply_label_map(sentences, label_map, str(path))
    for note in notes:
        warn(note)
    return mapped


def source_counts(splits: DatasetDict, data: DataConfig) -> list[dict[str, Any]]:
    """Sentences and entities (by type, after label maps) of each source of the training split, then of
    dev and test: the ``sources`` entry of ``metrics.json``."""
    names = [("data.train_file", data.train_file) if data.train_file else ("data.dir", f"{data.dir} ({data.splits})")]
    names += [(f"data.extra_train[{i}]", source.path) for i, source in enumerate(data.extra_train)]
    train = splits["train"]
    rows = [
        _counts("train", key, path, [tags for tags, source in zip(train["tags"], train["source"]) if source == i])
        for i, (key, path) in enumerate(names)
    ]
    for split in ("dev", "test"):
        key, path = (f"data.{split}_file", getattr(data, f"{split}_file")) if data.train_file else names[0]
        rows.append(_counts(split, key, path, splits[split]["tags"]))
    return rows


def _counts(split: str, key: str, path: str, sentences_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    found = Counter(entity_type(tag) for tags in sentences_tags for tag in tags if tag.startswith("B-"))
    entities = {kind: found[kind] for kind in types_of(f"B-{kind}" for kind in found)}
    return {"split": split, "source": key, "path": path, "sentences": len(sentences_tags),
            "entities": sum(entities.values()), "by_type": entities}


def format_sources(rows: Sequence[dict[str, Any]]) -> str:
    """The log lines of :func:`source_counts`: one per source."""
    return "\n".join(
        f"{row['split']} <- {row['source']} {row['path']}: {row['sentences']} sentences, {row['entities']} entities"
        + (f" ({', '.join(f'{kind} {n}' for kind, n in row['by_type'].items())})" if row["by_type"] else "")
        for row in rows
    )


def training_labels(splits: DatasetDict) -> list[str]:
    """Return the label list: ``O``, then ``B-``/``I-`` of every entity type in the training split.

    Raises ``DataError`` naming the sentence when dev or test holds a type that training never saw (the
    model could never predict it, so its score would silently be zero).
    """
    types = {t for tags in splits["train"]["tags"] for t in map(entity_type, tags) if t}
    for split in ("dev", "test"):
        for sent_id, tags in zip(splits[split]["sent_id"], splits[split]["tags"]):
            for tag in tags:
                if tag != "O" and entity_type(tag) not in types:
                    raise DataError(f"label {tag!r} in {split} sentence {sent_id!r} never occurs in the training split")
    return labels_for(types)


def train_words(dataset: Dataset, preprocessor: Preprocessor) -> list[list[tuple[int, int]]]:
    """Return the word spans of each training sentence, split at gold entity boundaries."""
    return [preprocessor.words(tokens, tags) for tokens, tags in zip(dataset["tokens"], dataset["tags"])]


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

    from .modeling import pretrained_tokenizer, scratch_tokenizer

    with accelerator.main_process_first():
        if config.model.name_or_path is not None:
            return pretrained_tokenizer(config.model.name_or_path)
        directory = out / "tokenizer"
        if accelerator.is_main_process and not (directory / "vocab.txt").is_file():
            with atomic_directory(directory, overwrite=True) as tmp:
                scratch_tokenizer(words, tmp, config.model.scratch)
        return PhobertTokenizer.from_pretrained(str(directory))


def encode_train(
    dataset: Dataset, words: Sequence[Sequence[tuple[int, int]]], preprocessor: Preprocessor, labels: Sequence[str]
) -> Dataset:
    """Encode training sentences: one row per sentence holding all its windows (``input_ids``, ``labels``:
    a word's label on its first subword where the word is in the window's core, -100 elsewhere;
    ``word_starts``), and ``length``, its longest window, for length-grouped batches."""
    label_ids = {label: i for i, label in enumerate(labels)}
    columns: dict[str, list] = {"input_ids": [], "labels": [], "word_starts": [], "length": []}
    for tokens, tags, spans in zip(dataset["tokens"], dataset["tags"], words):
        encoded = [e for _, e in preprocessor.encode(tokens, list(spans), [label_ids[t] for t in word_tags(spans, tags)])]
        for key in ("input_ids", "labels", "word_starts"):
            columns[key].append([e[key] for e in encoded])
        columns["length"].append(max(len(e["input_ids"]) for e in encoded))
    return Dataset.from_dict(columns)


def segmentation_ceiling(dataset: Dataset, preprocessor: Preprocessor) -> float:
    """Return the strict F1 of gold tags sent through the words of raw-text segmentation and back: the best
    any model can score through this segmenter."""
    projected = [
        syllable_tags(spans, word_tags(spans, tags))
        for tokens, tags in zip(dataset["tokens"], dataset["tags"])
        for spans in [preprocessor.words(tokens)]
    ]
    return f1(score_modes(dataset["tags"], projected))


# --------------------------------------------------------------------------------------------------------
# Batches.


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of indices whose lengths are similar, so dynamic padding adds little.

    As transformers' ``LengthGroupedSampler``: shuffle, cut into mega-batches of ``group_size`` batches,
    sort each by length, split into batches, shuffle the batch order. Seeded by ``seed`` and the epoch
    (``set_epoch``), so a resumed run sees the same batches. The one short batch, if any, comes last, as
    accelerate's sharding expects. With ``group_by_length=False`` it is a plain seeded shuffle.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int = 0, group_by_length: bool = True, group_size: int = 50
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.drop_last = False
        self.seed = seed
        self.group_by_length = group_by_length
        self.group_size = group_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches ``__iter__`` yields."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """Return this epoch's batches."""
        rng = random.Random(self.seed * 100_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if self.group_by_length:
            mega = self.batch_size * self.group_size
            order = [
                i
                for start in range(0, len(order), mega)
                for i in sorted(order[start : start + mega], key=lambda i: -self.lengths[i])
            ]
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        short = [b for b in batches if len(b) < self.batch_size]
        full = [b for b in batches if len(b) == self.batch_size]
        rng.shuffle(full)
        return full + short

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def collate(features: Sequence[dict[str, Any]], pad_id: int, pad_to_multiple_of: int | None = None) -> dict[str, torch.Tensor]:
    """Pad the windows of a batch of sentences to the longest: ``input_ids``, ``attention_mask``, ``labels``,
    ``word_mask`` (True at core words' first subwords) and ``sentence`` (each window's sentence in the batch;
    a sentence's windows consecutive and in order, as ``NerModel`` regroups them)."""
    rows = [
        (number, ids, labels, starts)
        for number, f in enumerate(features)
        for ids, labels, starts in zip(f["input_ids"], f["labels"], f["word_starts"])
    ]
    width = max(len(ids) for _, ids, _, _ in rows)
    if pad_to_multiple_of:
        width = math.ceil(width / pad_to_multiple_of) * pad_to_multiple_of
    n = len(rows)
    batch = {
        "input_ids": torch.full((n, width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((n, width), dtype=torch.long),
        "labels": torch.full((n, width), IGNORE_INDEX, dtype=torch.long),
        "word_mask": torch.zeros((n, width), dtype=torch.bool),
        "sentence": torch.tensor([number for number, *_ in rows], dtype=torch.long),
    }
    for row, (_, ids, labels, starts) in enumerate(rows):
        batch["input_ids"][row, : len(ids)] = torch.tensor(ids)
        batch["attention_mask"][row, : len(ids)] = 1
        batch["labels"][row, : len(ids)] = torch.tensor(labels)
        batch["word_mask"][row, starts] = True
    return batch


def _pad_multiple(mixed_precision: str) -> int | None:
    # Tensor cores want multiples of 8 in fp16/bf16; on CPU extra padding is pure waste.
    return 8 if mixed_precision != "no" and torch.cuda.is_available() else None


def train_loader(dataset: Dataset, pad_id: int, train: TrainConfig) -> DataLoader:
    """Return the training DataLoader: ``train.batch_size`` sentences per batch, length-grouped
    (``train.group_by_length``), dynamically padded."""
    sampler = LengthGroupedBatches(dataset["length"], train.batch_size, train.seed, train.group_by_length)
    return DataLoader(
        dataset.with_format(None),
        batch_sampler=sampler,
        collate_fn=partial(collate, pad_id=pad_id, pad_to_multiple_of=_pad_multiple(train.mixed_precision)),
        num_workers=train.num_workers,
    )


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


def score_split(
    accelerator: Accelerator, predictor: Predictor, dataset: Dataset, batch_size: int
) -> tuple[dict[str, Any], list[list[str]]]:
    """Tag ``dataset``'s gold syllables with ``predictor`` and score the entities it returns with seqeval
    (both modes); return ``(scores, predicted syllable tags)``. Raises ``RuntimeError`` unless every
    sentence comes back exactly once from the processes."""
    mine = list(range(accelerator.process_index, len(dataset), accelerator.num_processes))
    predictions = predictor.predict([dataset[i]["tokens"] for i in mine], batch_size) if mine else []
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


def dictionary_baseline_f1(train: Dataset, test: Dataset) -> float:
    """Return the strict micro F1 on ``test`` of the dictionary baseline learned from ``train`` (the
    figure a model should beat; see ``evaluate.py --baselines``)."""
    from .evaluation.taggers import DictionaryTagger

    return f1(score_modes(test["tags"], DictionaryTagger.fit(from_dataset(train))(from_dataset(test))))


# --------------------------------------------------------------------------------------------------------
# Output directory and checkpoints.


def prepare_output_dir(path: str | os.PathLike, overwrite: bool, resume: bool, accelerator: Accelerator) -> Path:
    """Check (and with ``overwrite``, clear) the output directory; return it.

    An existing non-empty directory is an error unless ``overwrite`` (start afresh) or ``resume``
    (continue from its last checkpoint). Only the main process deletes.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"output_dir {path} is a file, not a directory")
    # Before anything looks for a model or a checkpoint: a run killed mid-save may have left the good copy
    # under its backup name.
    if accelerator.is_main_process:
        for saved in (path / "model", path / "checkpoints" / "last", path / "tokenizer"):
            note = recover(saved)
            if note:
                accelerator.print(f"recovered: {note}")
    accelerator.wait_for_everyone()
    if resume:
        if not (path / "checkpoints" / "last" / CHECKPOINT_STATE).is_file():
            raise DataError(f"nothing to resume in {path}: no checkpoints/last/{CHECKPOINT_STATE}; run without --resume")
        return path
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"output directory {path} exists; pass --overwrite to replace it or --resume to continue it")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and path.exists():
        shutil.rmtree(path)
    accelerator.wait_for_everyone()
    return path


def save_checkpoint(accelerator: Accelerator, directory: str | os.PathLike, run: RunState) -> None:
    """Save the full training state (model, optimizer, scheduler, RNGs, ``run``) to ``directory`` atomically,
    then mark ``run`` as checkpointed at its epoch.

    Every process takes part (each saves its own RNG state); the main process renames the finished
    checkpoint into place.
    """
    state = {**run.to_dict(), "checkpointed": run.epoch}
    directory = Path(directory)
    tmp = directory.with_name(f".{directory.name}.tmp-save")  # the .NAME.tmp-* pattern recover() cleans up
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    tmp.mkdir(parents=True, exist_ok=True)
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / CHECKPOINT_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        replace_dir(tmp, directory)
    accelerator.wait_for_everyone()
    run.checkpointed = run.epoch


def load_checkpoint(accelerator: Accelerator, directory: str | os.PathLike) -> dict[str, Any]:
    """Restore the training state saved by :func:`save_checkpoint`; return its ``state`` dict."""
    directory = Path(directory)
    accelerator.load_state(str(directory))
    return json.loads((directory / CHECKPOINT_STATE).read_text(encoding="utf-8"))


def check_resumable(config: Config, saved_yaml: str) -> None:
    """Raise ``ConfigError`` if ``config`` differs from the config a run was started with."""
    import yaml

    saved = yaml.safe_load(saved_yaml)
    current = config_to_dict(config)

    def flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    a, b = flat(saved), flat(current)
    changed = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))
    if changed:
        raise ConfigError(f"--resume needs the config the run started with; changed: {', '.join(changed)}")


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


def run_metadata(config: Config, labels: Sequence[str], processes: int, splits: DatasetDict, preprocessor: Preprocessor) -> dict[str, Any]:
    """The head of ``metrics.json``: what was trained, on which labels, how the kept model is chosen, and the
    best F1 the segmentation allows on dev and test."""
    return {
        "config": config.name,
        "model": config.model.name_or_path or "scratch (PhoBERT architecture, random init, no pre-training)",
        "labels": list(labels),
        "selected_on": "last epoch" if config.train.select_on == "last" else "dev micro F1 of the entities predict() returns",
        "processes": processes,
        "sources": source_counts(splits, config.data),
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


@dataclass
class RunState:
    """Where a run is: epochs done, best dev score so far, the per-epoch history and log, why it stopped."""

    epoch: int = 0
    step: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    # The epoch the checkpoint on disk holds: what an interrupted run can --resume from.
    checkpointed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunState:
        return cls(**values)

    def record(self, epoch: int, dev: dict[str, Any], fit: dict[str, Any] | None, stats: dict[str, float], lr: float, train: TrainConfig) -> bool:
        """Record a finished epoch; return whether its model is the one to keep (best dev F1, or ``last``).

        Selection reads the micro F1 of the entities ``predict()`` returns (strict and default agree on
        them: the predicted tags are valid IOB2)."""
        score = dev["strict"]["overall"]["f1"]
        keep = train.select_on == "last" or score > self.best_f1
        if keep:
            self.best_f1, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
        self.epoch = epoch
        record = {"epoch": epoch, "step": self.step, "train_loss": stats["train_loss"], "lr": lr, "dev": dev}
        row = {"epoch": epoch, "step": self.step, "train_loss": stats["train_loss"], "lr": lr, "dev_f1": score}
        if fit is not None:
            record["train"] = fit
            row["train_f1"] = fit["strict"]["overall"]["f1"]
        self.history.append(record)
        self.log.append({**row, "kept": keep, **{k: v for k, v in stats.items() if k != "train_loss"}})
        if train.patience and self.bad_epochs >= train.patience:
            self.stopped = f"early stopping: no better dev F1 for {self.bad_epochs} epochs"
        elif train.max_steps is not None and self.step >= train.max_steps:
            self.stopped = f"max_steps {train.max_steps} reached"
        elif epoch >= train.epochs:
            self.stopped = f"all {epoch} epochs done"
        return keep

    def describe(self) -> str:
        """A one-line summary of the last epoch for the console."""
        row = self.log[-1]
        text = f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, dev F1 {row['dev_f1']:.4f}" + (" (kept)" if row["kept"] else "")
        if "train_f1" in row:
            text += f", train F1 {row['train_f1']:.4f}"
        return text + f", {row['train_tokens_per_s']:.0f} tokens/s, {row['seconds']:.1f}s"
