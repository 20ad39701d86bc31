"""A run's output directory and checkpoints: one writer at a time, an ``--overwrite`` that cannot destroy,
atomic checkpoint saves, resumes that check what they resume, and :class:`RunState`, where a run is.

A run directory holds ``vietner-run.json`` (the run marker): ``--overwrite`` replaces only a directory that
has it, and never the current directory, one of its ancestors, or a directory that holds or lies inside the
run's inputs. An overwriting run writes into ``.NAME.tmp-overwrite`` beside the old run and replaces it only
when it has succeeded (through :func:`vietner.storage.replace_dir`, so a kill at any instant leaves one of
the two whole); a failed one leaves the old run as it was. The main process holds the directory's
:class:`vietner.storage.WriterLock` for the whole run, so the recovery of leftovers at the start only ever
touches what a dead run left.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from . import __version__
from .config import Config, ConfigError, TrainConfig, config_to_dict
from .storage import WriterLock, as_os_error, atomic_write_text, probe_writable, recover, replace_dir

__all__ = [
    "CHECKPOINT_STATE", "RUN_MARKER", "RunDirError", "run_inputs", "check_overwrite", "OutputDir", "read_run_config",
    "verify_checkpoint", "save_checkpoint", "load_checkpoint", "check_resumable", "RunState",
]

CHECKPOINT_STATE = "trainer_state.json"
RUN_MARKER = "vietner-run.json"
# Inside the .NAME.tmp-* pattern that recover() clears once no live run holds the lock.
STAGING_SUFFIX = "tmp-overwrite"
# What save_checkpoint's accelerate.save_state writes for one model, optimizer and scheduler.
CHECKPOINT_FILES = ("model.safetensors", "optimizer.bin", "scheduler.bin")
RNG_KEYS = ("random_state", "numpy_random_seed", "torch_manual_seed")


class RunDirError(ValueError):
    """An output directory that cannot be used as asked; the message is one line naming it."""


def run_inputs(config: Config, config_file: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """The paths a run reads, each with the setting that names it: what ``--overwrite`` must never delete."""
    data = config.data
    if data.train_file:
        inputs = [(f"data.{split}_file", getattr(data, f"{split}_file")) for split in ("train", "dev", "test")]
    else:
        inputs = [("data.dir", data.dir), ("data.splits", data.splits)]
    inputs += [(f"data.extra_train[{i}].path", source.path) for i, source in enumerate(data.extra_train)]
    if config.model.name_or_path is not None and Path(config.model.name_or_path).exists():
        inputs.append(("model.name_or_path", config.model.name_or_path))
    if data.rdrsegmenter_dir:
        inputs.append(("data.rdrsegmenter_dir", data.rdrsegmenter_dir))
    if config_file is not None:
        inputs.append(("--config", str(config_file)))
    return inputs


def check_overwrite(path: Path, inputs: list[tuple[str, str]]) -> None:
    """Raise ``RunDirError`` unless ``--overwrite`` may replace ``path``: a vietner run that is not the
    current directory or above it, and neither holds nor lies inside any of ``inputs``."""
    target, cwd = path.resolve(), Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise RunDirError(f"--overwrite refuses output_dir {path}: it is the current directory or holds it")
    for key, name in inputs:
        source = Path(name).resolve()
        if source == target or target in source.parents:
            raise RunDirError(f"--overwrite refuses output_dir {path}: it holds {key} ({name}), which this run reads")
        if source in target.parents:
            raise RunDirError(f"--overwrite refuses output_dir {path}: it lies inside {key} ({name}), which this run reads")
    if not (path / RUN_MARKER).is_file():
        raise RunDirError(
            f"--overwrite refuses output_dir {path}: not a vietner training run (no {RUN_MARKER}); "
            "remove it yourself or choose another output_dir"
        )


class OutputDir:
    """The output directory of one ``train.py`` run, as a context manager yielding where the run writes.

    On entry (the main process): take the writer lock, recover what a killed run left, check the directory
    may be used as asked (fresh, ``--resume``, or ``--overwrite``), write the run marker and probe that the
    filesystem takes writes. On a clean exit an overwriting run replaces the old one. On an error a staged
    run is discarded (the old one stays), and a fresh run that never reached a checkpoint leaves nothing.
    """

    def __init__(
        self, path: str | os.PathLike, overwrite: bool, resume: bool, inputs: list[tuple[str, str]],
        accelerator: Any, state: Any,
    ) -> None:
        self.given = Path(path)  # as the user wrote it, for messages
        self.path = Path(os.path.abspath(path))  # "." and ".." have a name, and a parent, once absolute
        self.overwrite, self.resume, self.inputs = overwrite, resume, inputs
        self.accelerator, self.state = accelerator, state
        self.work = self.path
        self.staged = self.created = False
        self.lock: WriterLock | None = None

    def __enter__(self) -> OutputDir:
        path, main = self.path, self.accelerator.is_main_process
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"output_dir {self.given} is a file, not a directory")
        if main:
            self.lock = WriterLock(path).acquire()
        try:
            self._recover()
            self._choose()
            self.accelerator.wait_for_everyone()  # every process decides on the directory as it was found
            if main:
                self.work.mkdir(parents=True, exist_ok=True)
                probe_writable(self.work)
                if not (self.work / RUN_MARKER).is_file():
                    marker = {"kind": "vietner training run", "created_by": "train.py", "vietner_version": __version__}
                    atomic_write_text(self.work / RUN_MARKER, json.dumps(marker, indent=1) + "\n", overwrite=True)
            self.accelerator.wait_for_everyone()
        except BaseException:
            self._release()
            raise
        return self

    def _recover(self) -> None:
        """Put back what a run killed mid-save left (the lock makes it a dead run's, never a live one's)."""
        if self.accelerator.is_main_process:
            for saved in (self.path, self.path / "model", self.path / "checkpoints" / "last", self.path / "tokenizer"):
                note = recover(saved)
                if note:
                    self.accelerator.print(f"recovered: {note}")
        self.accelerator.wait_for_everyone()

    def _choose(self) -> None:
        """Decide where this run writes: the directory itself (fresh or resumed) or a staging directory."""
        path = self.path
        if self.resume:
            if not (path / "checkpoints" / "last" / CHECKPOINT_STATE).is_file():
                raise RunDirError(f"nothing to resume in {self.given}: no checkpoints/last/{CHECKPOINT_STATE}; run without --resume")
            return
        if path.exists() and any(path.iterdir()):
            if not self.overwrite:
                raise FileExistsError(f"output directory {self.given} exists; pass --overwrite to replace it or --resume to continue it")
            check_overwrite(self.given, self.inputs)
            self.work, self.staged = path.with_name(f".{path.name}.{STAGING_SUFFIX}"), True
            return
        self.created = not path.exists()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        try:
            if kind is None:
                self.accelerator.wait_for_everyone()
                if self.staged and self.accelerator.is_main_process:
                    replace_dir(self.work, self.path)
            elif self.accelerator.is_main_process:
                self._discard()
        finally:
            self._release()

    def _discard(self) -> None:
        """After a failure: drop a staged run (the old one stays) or a fresh run with nothing to resume."""
        if self.staged:
            shutil.rmtree(self.work, ignore_errors=True)
            self.state.checkpointed = 0  # this run's checkpoints went with it: nothing of it to resume
            self.accelerator.print(f"the previous run in {self.given} is unchanged")
        elif not self.resume and not self.state.checkpointed:
            if self.created:
                shutil.rmtree(self.path, ignore_errors=True)
            else:  # the user's empty directory: empty again
                for child in self.path.iterdir() if self.path.is_dir() else ():
                    shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def read_run_config(directory: Path) -> str:
    """The text of the ``config.yaml`` a run started with; ``RunDirError`` naming it when missing or unreadable."""
    import yaml

    path = directory / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
        if not isinstance(yaml.safe_load(text), dict):
            raise ValueError("not a mapping")
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise RunDirError(f"{path}: missing or damaged ({reason}); --resume needs the config the run started with") from None
    return text


def _damaged(path: Path, reason: Any) -> RunDirError:
    first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return RunDirError(f"{path}: damaged checkpoint file ({first}); it cannot be resumed exactly: start afresh with --overwrite")


def verify_checkpoint(directory: Path, processes: int) -> dict[str, Any]:
    """Check that every file of a checkpoint loads before any is restored; return its run state.

    accelerate restores the model, optimizer and scheduler, but silently skips RNG states it cannot read,
    which would resume with other random draws: every file is read here first, and a damaged or missing
    one is a ``RunDirError`` naming it.
    """
    from accelerate.utils import load as torch_load
    from safetensors import safe_open

    state_file = directory / CHECKPOINT_STATE
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not {"epoch", "step", "checkpointed"} <= state.keys():
            raise ValueError("not a run state")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _damaged(state_file, getattr(error, "strerror", None) or error) from None
    for name in CHECKPOINT_FILES + tuple(f"random_states_{i}.pkl" for i in range(processes)):
        path = directory / name
        try:
            if name.endswith(".safetensors"):
                with safe_open(str(path), framework="pt") as weights:
                    for key in weights.keys():
                        weights.get_slice(key)
                continue
            with zipfile.ZipFile(path) as archive:  # torch.save's format: every member's CRC is checked
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"member {bad} fails its checksum")
            if name.startswith("random_states_"):
                loaded = torch_load(str(path))
                if not isinstance(loaded, dict) or not set(RNG_KEYS) <= loaded.keys():
                    raise ValueError("no random states in it")
        except FileNotFoundError:
            raise _damaged(path, "missing") from None
        except Exception as error:  # noqa: BLE001 - zip, pickle, safetensors: each library its own errors
            raise _damaged(path, error) from None
    return state


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
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
    except Exception as error:  # a full disk, as torch.save and safetensors report it
        failure = as_os_error(error, tmp)
        if failure is None:
            raise
        raise failure from None
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / CHECKPOINT_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        replace_dir(tmp, directory)
    accelerator.wait_for_everyone()
    run.checkpointed = run.epoch


def load_checkpoint(accelerator: Accelerator, directory: str | os.PathLike) -> dict[str, Any]:
    """Restore the training state saved by :func:`save_checkpoint`; return its ``state`` dict. Every file is
    checked to load first (:func:`verify_checkpoint`): never a partial restore."""
    directory = Path(directory)
    state = verify_checkpoint(directory, accelerator.num_processes)
    try:
        accelerator.load_state(str(directory))
    except Exception as error:  # noqa: BLE001 - a checkpoint of another model shape, or from another version
        raise RunDirError(f"{directory}: cannot restore the checkpoint ({str(error).strip().splitlines()[0]})") from None
    return state


def check_resumable(config: Config, saved_yaml: str) -> str | None:
    """Raise ``ConfigError`` if ``config`` differs from the config a run was started with; return a note when
    only ``output_dir`` differs (the run was moved: nothing in it depends on where it is)."""
    import yaml

    saved = yaml.safe_load(saved_yaml)
    current = config_to_dict(config)

    def flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return out

    a, b = flat(saved), flat(current)
    changed = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key) and key != "output_dir")
    if changed:
        raise ConfigError(f"--resume needs the config the run started with; changed: {', '.join(changed)}")
    if a.get("output_dir") != b.get("output_dir"):
        return f"note: resuming in {b.get('output_dir')} a run started in {a.get('output_dir')} (moved)"
    return None


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
