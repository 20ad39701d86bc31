"""The pieces of the training loop that ``train.py`` strings together.

Data: sentences (syllables + IOB2 tags) are segmented into words, gold tags projected onto the words (a
word crossing an entity boundary is split there, in training only), words tokenized one at a time, and
each sentence cut into windows under PhoBERT's 256-token limit. Dev and test are segmented exactly as raw
text is at inference (no gold information), and word predictions are spread back onto syllables for
scoring, so dev/test scores measure what a user gets.

Loop: batches of similar length with dynamic padding, AdamW without decay on biases and LayerNorm weights,
transformers' linear warmup/decay schedule, gradient accumulation and mixed precision through accelerate.
Evaluation gathers predictions from all processes with ``gather_for_metrics`` and checks that every
sentence was scored exactly once. Checkpoints (``accelerator.save_state`` plus a small JSON state) let
``--resume`` continue a run and end where an uninterrupted run ends.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from functools import partial
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from datasets import Dataset, DatasetDict
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from .config import Config, ConfigError, DataConfig, TrainConfig, config_to_dict
from .corpus import atomic_write_text, load_conll, load_corpus
from .encoding import IGNORE_INDEX, WordPieces, encode_window, windows
from .metrics import f1, score_modes
from .modeling import NerModel, ModelSettings
from .segment import Segmenter, join_word, split_at_entity_boundaries, syllable_tags, word_tags
from .storage import recover, replace_dir

__all__ = [
    "DataError",
    "SPLITS",
    "load_splits",
    "training_labels",
    "SegmentedSentence",
    "segment_split",
    "EncodedSplit",
    "encode_split",
    "segmentation_ceiling",
    "LengthGroupedBatches",
    "collate",
    "train_loader",
    "eval_loader",
    "optimizer_groups",
    "make_optimizer",
    "make_scheduler",
    "EpochStats",
    "train_epoch",
    "evaluate",
    "prepare_output_dir",
    "save_checkpoint",
    "load_checkpoint",
    "model_settings",
    "write_predictions",
    "write_json",
    "write_jsonl",
    "check_resumable",
    "steps_per_epoch",
    "model_inputs",
    "RunState",
    "log_row",
    "describe_epoch",
]

SPLITS = ("train", "dev", "test")
CHECKPOINT_STATE = "trainer_state.json"


class DataError(ValueError):
    """Training data that cannot be used; the message is one line saying what and where."""


# --------------------------------------------------------------------------------------------------------
# Data.


def load_splits(data: DataConfig) -> DatasetDict:
    """Return the train/dev/test sentences (``sent_id``, ``tokens``, ``tags`` columns) named by ``data``.

    Either the project corpus (``data.dir`` + ``data.splits``) or the user's own three CoNLL files.
    Raises ``CorpusFormatError`` for a missing or unreadable file and ``DataError`` for an empty split.
    """
    if data.train_file:
        files = {"train": data.train_file, "dev": data.dev_file, "test": data.test_file}
        splits = DatasetDict({split: load_conll(path, data.scheme) for split, path in files.items()})
        sources = {split: str(path) for split, path in files.items()}
    else:
        splits = load_corpus(data.dir, data.splits)
        sources = {split: f"the {split!r} articles of {data.splits}" for split in SPLITS}
    for split in SPLITS:
        if len(splits[split]) == 0:
            raise DataError(f"the {split} split is empty: no sentences in {sources[split]}")
    return splits


def _entity_type(tag: str) -> str | None:
    return tag[2:] if tag[:2] in ("B-", "I-") else None


def training_labels(splits: DatasetDict) -> list[str]:
    """Return the label list: ``O``, then ``B-``/``I-`` of every entity type in the training split.

    Raises ``DataError`` naming the sentence when dev or test holds a type that training never saw (the
    model could never predict it, so its score would silently be zero).
    """
    types = {t for tags in splits["train"]["tags"] for t in map(_entity_type, tags) if t}
    for split in ("dev", "test"):
        for sent_id, tags in zip(splits[split]["sent_id"], splits[split]["tags"]):
            for tag in tags:
                if tag != "O" and _entity_type(tag) not in types:
                    raise DataError(f"label {tag!r} in {split} sentence {sent_id!r} never occurs in the training split")
    return ["O"] + [f"{prefix}{t}" for t in sorted(types) for prefix in ("B-", "I-")]


@dataclass
class SegmentedSentence:
    """A sentence as words: syllable spans per word, the PhoBERT word strings, and the gold syllable tags."""

    spans: list[tuple[int, int]]
    words: list[str]
    gold: list[str]

    def word_gold(self) -> list[str]:
        """The gold tags projected onto the words."""
        return word_tags(self.spans, self.gold)


def segment_split(dataset: Dataset, segmenter: Segmenter, split_at_gold: bool) -> list[SegmentedSentence]:
    """Segment every sentence of ``dataset`` into words.

    With ``split_at_gold`` (training), a word that crosses a gold entity boundary is split there so no gold
    entity is lost; without it (dev, test), words are what the segmenter gives on raw text, as at inference.
    """
    out = []
    for tokens, tags in zip(dataset["tokens"], dataset["tags"]):
        spans = segmenter.words(tokens)
        if split_at_gold:
            spans = split_at_entity_boundaries(spans, tags)
        out.append(SegmentedSentence(spans, [join_word(tokens[s:e]) for s, e in spans], list(tags)))
    return out


def segmentation_ceiling(sentences: Sequence[SegmentedSentence]) -> float:
    """Return the strict F1 of gold tags sent through the words and back: the best any model can score."""
    projected = [syllable_tags(s.spans, s.word_gold()) for s in sentences]
    return f1(score_modes([s.gold for s in sentences], projected))


@dataclass
class EncodedSplit:
    """A split as model inputs: one row per window, plus what is needed to score it per syllable."""

    dataset: Dataset
    sentences: list[SegmentedSentence]
    labels: list[str]

    @property
    def gold(self) -> list[list[str]]:
        return [s.gold for s in self.sentences]


def encode_split(
    sentences: Sequence[SegmentedSentence],
    tokenizer: PreTrainedTokenizerBase,
    labels: Sequence[str],
    data: DataConfig,
    overlap: int,
) -> EncodedSplit:
    """Encode segmented sentences into windows of at most ``data.max_length`` tokens.

    Each row holds ``input_ids``, ``labels`` (a word's label on its first subword, -100 elsewhere and
    outside the window's core), ``word_starts`` (core words' first subwords), ``sentence`` and ``window``
    (its order within the sentence) and ``length``. ``overlap`` is the shared context between windows (0
    for training, where every word is labelled once).
    """
    label_ids = {label: i for i, label in enumerate(labels)}
    pieces_of = WordPieces(tokenizer, max_pieces_per_word=data.max_pieces_per_word)
    columns: dict[str, list] = {k: [] for k in ("input_ids", "labels", "word_starts", "sentence", "window", "length")}
    for index, sentence in enumerate(sentences):
        pieces = pieces_of(sentence.words)
        word_labels = [label_ids[tag] for tag in sentence.word_gold()]
        for number, window in enumerate(windows([len(p) for p in pieces], data.max_length - 2, overlap)):
            row = encode_window(pieces, window, tokenizer.bos_token_id, tokenizer.eos_token_id, labels=word_labels)
            columns["input_ids"].append(row["input_ids"])
            columns["labels"].append(row["labels"])
            columns["word_starts"].append(row["word_starts"])
            columns["sentence"].append(index)
            columns["window"].append(number)
            columns["length"].append(len(row["input_ids"]))
    return EncodedSplit(Dataset.from_dict(columns), list(sentences), list(labels))


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
    """Pad a list of encoded windows to the longest one: ``input_ids``, ``attention_mask``, ``labels``,
    ``word_mask`` (True at core words' first subwords), and ``sentence``/``window`` ids."""
    width = max(len(f["input_ids"]) for f in features)
    if pad_to_multiple_of:
        width = math.ceil(width / pad_to_multiple_of) * pad_to_multiple_of
    n = len(features)
    batch = {
        "input_ids": torch.full((n, width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((n, width), dtype=torch.long),
        "word_mask": torch.zeros((n, width), dtype=torch.bool),
    }
    if "labels" in features[0]:
        batch["labels"] = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    for row, f in enumerate(features):
        length = len(f["input_ids"])
        batch["input_ids"][row, :length] = torch.tensor(f["input_ids"])
        batch["attention_mask"][row, :length] = 1
        batch["word_mask"][row, f["word_starts"]] = True
        if "labels" in batch:
            batch["labels"][row, :length] = torch.tensor(f["labels"])
    for key in ("sentence", "window"):
        if key in features[0]:
            batch[key] = torch.tensor([f[key] for f in features], dtype=torch.long)
    return batch


def model_inputs(batch: dict[str, torch.Tensor], with_labels: bool = True) -> dict[str, torch.Tensor]:
    """Return the entries of ``batch`` that :class:`NerModel` takes."""
    keys = ("input_ids", "attention_mask", "word_mask") + (("labels",) if with_labels else ())
    return {key: batch[key] for key in keys if key in batch}


def _pad_multiple(mixed_precision: str) -> int | None:
    # Tensor cores want multiples of 8 in fp16/bf16; on CPU extra padding is pure waste.
    return 8 if mixed_precision != "no" and torch.cuda.is_available() else None


def train_loader(encoded: EncodedSplit, tokenizer: PreTrainedTokenizerBase, train: TrainConfig) -> DataLoader:
    """Return the training DataLoader: length-grouped batches (``train.group_by_length``), dynamic padding."""
    sampler = LengthGroupedBatches(encoded.dataset["length"], train.batch_size, train.seed, train.group_by_length)
    pad = _pad_multiple(train.mixed_precision)
    return DataLoader(
        encoded.dataset.with_format(None),
        batch_sampler=sampler,
        collate_fn=partial(collate, pad_id=tokenizer.pad_token_id, pad_to_multiple_of=pad),
        num_workers=train.num_workers,
    )


def eval_loader(encoded: EncodedSplit, tokenizer: PreTrainedTokenizerBase, train: TrainConfig) -> DataLoader:
    """Return a DataLoader over ``encoded`` in order of length (least padding), for scoring."""
    lengths = list(encoded.dataset["length"])
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    pad = _pad_multiple(train.mixed_precision)
    return DataLoader(
        encoded.dataset.select(order).with_format(None),
        batch_size=train.eval_batch_size,
        shuffle=False,
        collate_fn=partial(collate, pad_id=tokenizer.pad_token_id, pad_to_multiple_of=pad),
        num_workers=train.num_workers,
    )


# --------------------------------------------------------------------------------------------------------
# Optimization.


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Return AdamW parameter groups: weight decay on weight matrices, none on biases and LayerNorm weights."""
    decay, no_decay = [], []
    norm_types = (torch.nn.LayerNorm,)
    no_decay_names = set()
    for module_name, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            if isinstance(module, norm_types) or name.endswith("bias"):
                no_decay_names.add(f"{module_name}.{name}" if module_name else name)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name in no_decay_names else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """Return AdamW over :func:`optimizer_groups`."""
    return torch.optim.AdamW(optimizer_groups(model, train.weight_decay), lr=train.lr)


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


@dataclass
class EpochStats:
    """What one pass over the training batches did (summed over processes)."""

    loss: float
    steps: int
    tokens: int
    padded_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def padding_fraction(self) -> float:
        return 1 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


def train_epoch(
    accelerator: Accelerator,
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    max_grad_norm: float = 1.0,
    step: int = 0,
    max_steps: int | None = None,
    description: str = "train",
) -> tuple[EpochStats, int]:
    """Run one epoch of training; return its stats and the optimizer step count reached.

    Stops early once ``max_steps`` optimizer steps have been taken in total.
    """
    model.train()
    loss_sum = torch.zeros((), device=accelerator.device)
    batches = 0
    tokens = padded = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=description, disable=not accelerator.is_local_main_process, leave=False, dynamic_ncols=True)
    for batch in bar:
        with accelerator.accumulate(model):
            loss = model(**model_inputs(batch)).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach().float()
        batches += 1
        tokens += int(batch["attention_mask"].sum())
        padded += batch["attention_mask"].numel()
        if accelerator.sync_gradients:
            step += 1
        if batches % 5 == 0 or batches == len(loader):
            seconds = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss_sum.item() / batches:.4f}", tok_s=f"{tokens * accelerator.num_processes / seconds:.0f}")
        if max_steps is not None and step >= max_steps:
            break
    bar.close()
    totals = accelerator.reduce(
        torch.tensor([loss_sum.item(), batches, tokens, padded], dtype=torch.float64, device=accelerator.device), "sum"
    ).tolist()
    seconds = time.perf_counter() - start
    stats = EpochStats(totals[0] / max(totals[1], 1), step, int(totals[2]), int(totals[3]), seconds)
    return stats, step


# --------------------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(
    accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader, encoded: EncodedSplit, description: str = "eval"
) -> tuple[dict[str, Any], list[list[str]]]:
    """Score ``encoded`` with ``model`` across all processes; return ``(scores, predicted syllable tags)``.

    Predictions are gathered with ``gather_for_metrics`` (which drops the duplicates accelerate adds to
    even out the last batch); every window must come back exactly once, or this raises ``RuntimeError``.
    ``scores`` holds seqeval's strict and default modes plus the counts of sentences and windows scored.
    """
    model.eval()
    decoder: NerModel = accelerator.unwrap_model(model)
    seen: dict[tuple[int, int], list[int]] = {}
    duplicates = 0
    bar = tqdm(loader, desc=description, disable=not accelerator.is_local_main_process, leave=False, dynamic_ncols=True)
    for batch in bar:
        with torch.no_grad():
            logits = model(**model_inputs(batch, with_labels=False)).logits
        tags = decoder.decode(logits, batch["word_mask"])
        tags = accelerator.pad_across_processes(tags, dim=1, pad_index=IGNORE_INDEX)
        gathered = accelerator.gather_for_metrics({"tags": tags, "sentence": batch["sentence"], "window": batch["window"]})
        for row_tags, sentence, window in zip(
            gathered["tags"].tolist(), gathered["sentence"].tolist(), gathered["window"].tolist()
        ):
            key = (sentence, window)
            duplicates += key in seen
            seen[key] = [t for t in row_tags if t != IGNORE_INDEX]
    expected = {(s, w) for s, w in zip(encoded.dataset["sentence"], encoded.dataset["window"])}
    if duplicates or set(seen) != expected:
        raise RuntimeError(
            f"evaluation scored {len(seen)} of {len(expected)} windows with {duplicates} duplicates; "
            "every window must be scored exactly once"
        )
    by_sentence: dict[int, list[tuple[int, list[int]]]] = {}
    for (sentence, window), tags in seen.items():
        by_sentence.setdefault(sentence, []).append((window, tags))
    predictions = []
    for index, sentence in enumerate(encoded.sentences):
        word_ids = [t for _, tags in sorted(by_sentence.get(index, [])) for t in tags]
        if len(word_ids) != len(sentence.words):
            raise RuntimeError(f"sentence {index}: {len(word_ids)} word predictions for {len(sentence.words)} words")
        predictions.append(syllable_tags(sentence.spans, [encoded.labels[t] for t in word_ids]))
    scores = score_modes(encoded.gold, predictions)
    scores["sentences"] = len(by_sentence)
    scores["windows"] = len(seen)
    return scores, predictions


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


def save_checkpoint(accelerator: Accelerator, directory: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save the full training state (model, optimizer, scheduler, RNGs, ``state``) to ``directory`` atomically.

    Every process takes part (each saves its own RNG state); the main process renames the finished
    checkpoint into place.
    """
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
        segmenter=config.data.segmenter,
        max_length=config.data.max_length,
        window_overlap=config.data.window_overlap,
        max_pieces_per_word=config.data.max_pieces_per_word,
        head=config.model.head,
        base_model=config.model.name_or_path,
    )


def write_predictions(path: str | os.PathLike, dataset: Dataset, predictions: Sequence[Sequence[str]]) -> None:
    """Write ``TOKEN<TAB>GOLD<TAB>PRED`` CoNLL lines (one block per sentence, with its id) atomically."""
    blocks = []
    for sent_id, tokens, gold, pred in zip(dataset["sent_id"], dataset["tokens"], dataset["tags"], predictions):
        lines = [f"# sent_id = {sent_id}"] + [f"{t}\t{g}\t{p}" for t, g, p in zip(tokens, gold, pred)]
        blocks.append("\n".join(lines) + "\n")
    atomic_write_text(path, "\n".join(blocks), overwrite=True)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(value, ensure_ascii=False, indent=2) + "\n", overwrite=True)


def write_jsonl(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines to ``path`` atomically (the whole log, so a resumed run never duplicates)."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), overwrite=True)


def log_row(record: dict[str, Any], stats: EpochStats, improved: bool) -> dict[str, Any]:
    """Return the ``log.jsonl`` line of an epoch: its losses and overall F1s, timing and throughput."""
    row = {"epoch": record["epoch"], "step": record["step"], "train_loss": round(record["train_loss"], 6), "lr": record["lr"]}
    for split in ("dev", "train"):
        if split in record:
            for mode in ("strict", "default"):
                row[f"{split}_f1_{mode}"] = record[split][mode]["overall"]["f1"]
    row.update(
        best=improved,
        seconds=round(stats.seconds, 2),
        train_tokens_per_s=round(stats.tokens_per_second, 1),
        padding_fraction=round(stats.padding_fraction, 4),
    )
    return row


def describe_epoch(row: dict[str, Any]) -> str:
    """Return a one-line summary of a :func:`log_row` for the console."""
    text = f"epoch {row['epoch']}: loss {row['train_loss']:.4f}, dev F1 strict {row['dev_f1_strict']:.4f} default {row['dev_f1_default']:.4f}"
    text += " (best)" if row["best"] else ""
    if "train_f1_strict" in row:
        text += f", train F1 strict {row['train_f1_strict']:.4f}"
    return text + f", {row['train_tokens_per_s']:.0f} tokens/s, {row['seconds']:.1f}s"


@dataclass
class RunState:
    """Where a run is: epochs done, best dev score so far, the per-epoch history."""

    epoch: int = 0
    step: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunState:
        return cls(**values)
