"""Training batches: sentences encoded with all their windows, length-grouped batches, dynamic padding.

A training example is a whole sentence with all its windows, so a CRF head is trained on the sentence's
word emissions as it is decoded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler

from .config import TrainConfig
from .encoding import IGNORE_INDEX, Preprocessor
from .segment import word_tags

__all__ = ["encode_train", "LengthGroupedBatches", "collate", "train_loader"]


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
