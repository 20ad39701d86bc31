"""A run's output directory and checkpoints: what may be overwritten, atomic checkpoint saves, ``--resume``
checks, and :class:`RunState`, where a run is.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from .config import Config, ConfigError, TrainConfig, config_to_dict
from .sources import DataError
from .storage import recover, replace_dir

__all__ = ["CHECKPOINT_STATE", "prepare_output_dir", "save_checkpoint", "load_checkpoint", "check_resumable", "RunState"]

CHECKPOINT_STATE = "trainer_state.json"


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
