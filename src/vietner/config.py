"""Training configuration: YAML files loaded into typed dataclasses, with ``--set a.b=value`` overrides.

Every setting has a default here; a YAML file under ``configs/`` lists the ones it changes. A key that does
not exist, or a value of the wrong type, is a :class:`ConfigError` whose message is one line naming the key
(values are read and converted by :mod:`vietner.config_values`; the checks of their ranges are here).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_values import apply_overrides, build_dataclass, parse_override  # parse_override re-exported
from .schema import SCHEMES, check_label_map
from .storage import NotUtf8Error, decode_utf8
from .settings import SETTINGS_FILE, ConfigError, ModelSettings, Preprocessing, position_limit

__all__ = [
    "ConfigError",
    "ScratchConfig",
    "Preprocessing",
    "position_limit",
    "ReadOptions",
    "DataSource",
    "warn",
    "ModelConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "load_config",
    "parse_override",
    "apply_overrides",
    "config_to_dict",
    "config_to_yaml",
]

HEADS = ("softmax", "crf")
PRECISIONS = ("no", "fp16", "bf16")
SELECTION_MODES = ("f1", "last")



@dataclass
class ScratchConfig:
    """Size of the randomly initialized PhoBERT-architecture model built when ``model.name_or_path`` is null."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 256
    # Target size of the BPE vocabulary learned from the training split (merges stop earlier on a small corpus).
    bpe_vocab_size: int = 4000
    bpe_min_frequency: int = 2


@dataclass
class ModelConfig:
    """Which model to fine-tune and its classification head."""

    # A hub id ("vinai/phobert-base") or a local directory; null builds the scratch model (configs/tiny.yaml).
    # A model directory written by train.py is a stage-2 start: its labels are carried over by name, and its
    # preprocessing and head apply unless this config sets them.
    name_or_path: str | None = "vinai/phobert-base"
    head: str = "softmax"
    # Dropout before the classifier; null keeps the checkpoint's own setting.
    classifier_dropout: float | None = None
    scratch: ScratchConfig = field(default_factory=ScratchConfig)


FORMATS = ("auto", "conll", "jsonl", "parquet", "disk")
TOKEN_UNITS = ("auto", "syllables", "words")
ON_INVALID_TAG = ("error", "repair")


@dataclass
class ReadOptions:
    """How a file of labelled sentences is read (see ``vietner.formats``)."""

    scheme: str = "IOB2"
    # auto: from the path (a folder: save_to_disk; .jsonl/.json; .parquet; else CoNLL) | conll | jsonl | parquet | disk
    format: str = "auto"
    # CoNLL: the column holding the tags (0 is the token; negative counts from the end); null: the last.
    tag_column: int | None = None
    # JSON lines and datasets: the key (column) of the tokens and of the tags; null: words|tokens, tags|ner_tags.
    token_key: str | None = None
    tag_key: str | None = None
    # syllables | words (split Hà_Nội and "Hà Nội" into syllables, spreading the tag) | auto (decide per file).
    tokens: str = "auto"
    # error: a stray I-X stops the read at its file:line | repair: read it as B-X, with one warning.
    on_invalid_tag: str = "error"

    def check_reading(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the key for a value outside its choices."""
        choices = {"scheme": (self.scheme.upper(), SCHEMES), "format": (self.format, FORMATS),
                   "tokens": (self.tokens, TOKEN_UNITS), "on_invalid_tag": (self.on_invalid_tag, ON_INVALID_TAG)}
        for key, (value, allowed) in choices.items():
            if value not in allowed:
                raise ConfigError(f"config key '{prefix}{key}' must be one of {', '.join(allowed)}, not {value!r}")
        if self.tag_column == 0:
            raise ConfigError(f"config key '{prefix}tag_column' cannot be 0: column 0 is the token")


@dataclass
class DataSource(ReadOptions):
    """One more file pooled into the training split (a public corpus), read with its own options and label map."""

    path: str = ""
    # Its entity types renamed to the run's ({NAME: PER}); a type the map does not name becomes O. null: keep all.
    label_map: dict[str, str] | None = None


@dataclass
class DataConfig(Preprocessing, ReadOptions):
    """Where the sentences come from, how train/dev/test files are read, and how sentences become model inputs."""

    dir: str = "data/annotated"
    splits: str = "data/splits.json"
    # Your own CoNLL files instead of the project corpus: all three set, or none.
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    # The entity types of train/dev/test renamed ({NAME: PER}); a type the map does not name becomes O. null: keep all.
    label_map: dict[str, str] | None = None
    # More CoNLL files whose sentences are added to the training split, each read with its own scheme and map.
    extra_train: list[DataSource] = field(default_factory=list)
    # Folder with rdrsegmenter.jar, wordsegmenter.rdr and vi-vocab; null: the installed python-rdrsegmenter wheel's.
    rdrsegmenter_dir: str | None = None
    # The JVM library (libjvm.so) for rdrsegmenter; null: the one JAVA_HOME or `java` on PATH points to.
    jvm_path: str | None = None
    # Options for that JVM, space-separated ("-Xmx1g"), after vietner's own (vietner.segment.JIT_OPTIONS).
    jvm_options: str = ""

    def segmenter_options(self) -> dict[str, Any]:
        """The rdrsegmenter files and JVM this machine uses (see :meth:`Preprocessing.segmenter_options`)."""
        return {"rdrsegmenter_dir": self.rdrsegmenter_dir, "jvm_path": self.jvm_path, "jvm_options": self.jvm_options}


@dataclass
class TrainConfig:
    """The optimization loop."""

    seed: int = 42
    epochs: int = 20
    batch_size: int = 16
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    lr: float = 5e-5
    # The CRF head's transitions have their own rate, without weight decay: at the encoder's fine-tuning
    # rate (5e-5) they barely move from their random init over a whole run.
    crf_lr: float = 5e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    # Batches are drawn from groups of similar length, which cuts padding; false shuffles freely.
    group_by_length: bool = True
    # Stop after this many epochs without a better dev F1; 0 never stops early.
    patience: int = 5
    # Which epoch's model is kept: "f1", the best dev micro F1 of the entities predict() returns, or "last".
    select_on: str = "f1"
    # Also score the training split at the end (cheap for small data; shows whether the model fits it).
    score_train_split: bool = False
    # Stop after this many optimizer steps in total (smoke tests); null trains all epochs.
    max_steps: int | None = None
    num_workers: int = 0


@dataclass
class Config:
    """A whole training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # Default: outputs/<config file name without .yaml>.
    output_dir: str | None = None
    # The config file's stem, filled in by load_config.
    name: str = "config"


def _check(config: Config) -> None:
    """Raise ``ConfigError`` for values outside their allowed set or range."""
    choices = {
        "model.head": (config.model.head, HEADS),
        "train.mixed_precision": (config.train.mixed_precision, PRECISIONS),
        "train.select_on": (config.train.select_on, SELECTION_MODES),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"config key {key!r} must be one of {', '.join(allowed)}, not {value!r}")
    positive = {
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
        "train.eval_batch_size": config.train.eval_batch_size,
        "train.gradient_accumulation_steps": config.train.gradient_accumulation_steps,
        "model.scratch.hidden_size": config.model.scratch.hidden_size,
        "model.scratch.num_hidden_layers": config.model.scratch.num_hidden_layers,
        "model.scratch.num_attention_heads": config.model.scratch.num_attention_heads,
    }
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"config key {key!r} must be at least 1, not {value}")
    config.data.check()
    if not 0 <= config.train.warmup_ratio <= 1:
        raise ConfigError(f"config key 'train.warmup_ratio' must be between 0 and 1, not {config.train.warmup_ratio}")
    for key in ("lr", "crf_lr"):
        if getattr(config.train, key) <= 0:
            raise ConfigError(f"config key 'train.{key}' must be positive, not {getattr(config.train, key)}")
    if config.train.patience < 0:
        raise ConfigError(f"config key 'train.patience' must be 0 (off) or more, not {config.train.patience}")
    if config.train.max_steps is not None and config.train.max_steps < 1:
        raise ConfigError("config key 'train.max_steps' must be at least 1 or null")
    _check_ranges(config)
    scratch = config.model.scratch
    if scratch.hidden_size % scratch.num_attention_heads:
        raise ConfigError("config key 'model.scratch.hidden_size' must be a multiple of model.scratch.num_attention_heads")
    files = [config.data.train_file, config.data.dev_file, config.data.test_file]
    if any(files) and not all(files):
        raise ConfigError("config keys 'data.train_file', 'data.dev_file' and 'data.test_file' go together: set all three or none")
    _check_sources(config.data)


def _floats(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every float setting under the dataclass ``value``, with its dotted key."""
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if dataclasses.is_dataclass(item):
            yield from _floats(item, f"{prefix}{f.name}.")
        elif isinstance(item, float):
            yield f"{prefix}{f.name}", item


def _check_ranges(config: Config) -> None:
    """Raise ``ConfigError`` naming the key and its allowed range for a number out of it: a NaN rate or a
    negative size would otherwise fail deep inside torch, after the run has started writing."""
    from .settings import SEGMENTER_NAMES

    for key, value in _floats(config):
        if not math.isfinite(value):
            raise ConfigError(f"config key {key!r} must be a finite number, not {value}")
    train, scratch = config.train, config.model.scratch
    ranges: list[tuple[str, float | None, bool, str]] = [
        ("train.weight_decay", train.weight_decay, train.weight_decay >= 0, "0 or more"),
        ("train.max_grad_norm", train.max_grad_norm, train.max_grad_norm >= 0, "0 (no clipping) or more"),
        ("train.num_workers", train.num_workers, train.num_workers >= 0, "0 (the main process) or more"),
        ("train.seed", train.seed, 0 <= train.seed < 2**32, "in [0, 2^32)"),
        ("model.scratch.intermediate_size", scratch.intermediate_size, scratch.intermediate_size >= 1, "at least 1"),
        ("model.scratch.bpe_vocab_size", scratch.bpe_vocab_size, scratch.bpe_vocab_size >= 1, "at least 1"),
        ("model.scratch.bpe_min_frequency", scratch.bpe_min_frequency, scratch.bpe_min_frequency >= 1, "at least 1"),
    ]
    dropout = config.model.classifier_dropout
    if dropout is not None:
        ranges.append(("model.classifier_dropout", dropout, 0 <= dropout < 1, "in [0, 1) or null"))
    for key, value, ok, allowed in ranges:
        if not ok:
            raise ConfigError(f"config key {key!r} must be {allowed}, not {value}")
    if config.data.segmenter not in SEGMENTER_NAMES:
        raise ConfigError(f"config key 'data.segmenter' must be one of {', '.join(SEGMENTER_NAMES)}, not {config.data.segmenter!r}")


def _check_sources(data: DataConfig) -> None:
    """Raise ``ConfigError`` for a label map that is not types to types, or an extra source without a path."""
    maps = {"data.label_map": data.label_map}
    data.check_reading("data.")
    for i, source in enumerate(data.extra_train):
        key = f"data.extra_train[{i}]"
        if not source.path.strip():
            raise ConfigError(f"config key '{key}.path' must name a data file")
        source.check_reading(f"{key}.")
        maps[f"{key}.label_map"] = source.label_map
    for key, label_map in maps.items():
        try:
            check_label_map(label_map or {})
        except ValueError as error:
            raise ConfigError(f"config key {key!r}: {error}") from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load the YAML config at ``path`` (None: all defaults) with ``--set`` overrides applied; preprocessing
    keys and ``model.head`` it does not set come from ``model.name_or_path``'s ``vietner.json`` when that is
    a model directory written by train.py."""
    values: dict[str, Any] = {}
    name = "config"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            values = yaml.safe_load(decode_utf8(path.read_bytes(), path)) or {}
        except NotUtf8Error as error:
            raise ConfigError(str(error)) from None
        except OSError as error:
            raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
        name = path.stem
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections (model, data, train)")
    values = apply_overrides(values, overrides or [])
    config = build_dataclass(Config, values, "")
    config.name = name
    _inherit_base_model(config, values)
    _check(config)
    return config


def warn(message: str) -> None:
    """Print a one-line warning on stderr, once per run: only the main process of a distributed launch."""
    if os.environ.get("RANK", "0") == "0":
        print(f"warning: {message}", file=sys.stderr)


def _inherit_base_model(config: Config, values: dict[str, Any]) -> None:
    """When ``model.name_or_path`` is a model directory written by train.py, take its preprocessing and head
    from its ``vietner.json`` for every key the config does not set, and warn for a set key that differs:
    stage 2 of a two-stage run must see words as stage 1 did."""
    path = config.model.name_or_path
    if path is None or not Path(path).is_dir():
        return
    settings_file = Path(path) / SETTINGS_FILE
    if not settings_file.is_file():
        return
    try:
        settings = ModelSettings.from_json(settings_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{settings_file}: cannot read the base model's settings ({error})") from None
    base = {("data", key): value for key, value in dataclasses.asdict(settings.preprocessing).items()}
    base[("model", "head")] = settings.head
    for (section, key), value in base.items():
        given = values.get(section) or {}
        current = getattr(getattr(config, section), key)
        if key not in given:
            setattr(getattr(config, section), key, value)
        elif current != value:
            warn(f"{section}.{key} is {current!r} but the base model {path} was trained with {value!r}; using {current!r}")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Return ``config`` as plain nested dicts (the form written to ``config.yaml``)."""
    values = dataclasses.asdict(config)
    values.pop("name")
    return values


def config_to_yaml(config: Config) -> str:
    """Return ``config`` as YAML text that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True)
