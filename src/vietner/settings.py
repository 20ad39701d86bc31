"""What a model is trained and served with besides its weights: the preprocessing keys (:class:`Preprocessing`,
the ``data`` section's and ``vietner.json``'s) and :class:`ModelSettings`, the ``vietner.json`` of a model
directory.

Torch-free and below :mod:`vietner.config` and :mod:`vietner.modeling`, which both read these.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import __version__

# What ``data.segmenter`` may name: the keys of vietner.segment's registry (a test checks they agree).
SEGMENTER_NAMES = ("none", "underthesea", "pyvi", "rdrsegmenter", "vncorenlp")

__all__ = ["ConfigError", "Preprocessing", "position_limit", "SETTINGS_FILE", "ModelSettings"]

SETTINGS_FILE = "vietner.json"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line naming the offending key."""


@dataclass
class Preprocessing:
    """How a sentence becomes model inputs: one object that is the ``data`` section's preprocessing keys, the
    ``preprocessing`` entry of the ``vietner.json`` saved with a model, and what ``NerTagger`` applies."""

    segmenter: str = "underthesea"
    # PhoBERT's position limit, <s> and </s> included; longer sentences are split into windows.
    max_length: int = 256
    # Subwords of context shared by consecutive windows; each word is read from one window's core.
    window_overlap: int = 64
    max_pieces_per_word: int = 32
    # Respell tone marks as PhoBERT's pre-training text does ("hòa" -> "hoà", "Thành_ủy" -> "Thành_uỷ"),
    # so today's spelling reaches it as the words it learned; offsets into the caller's text do not move.
    normalize_tones: bool = True

    def check(self, prefix: str = "data.") -> None:
        """Raise ``ConfigError`` naming the key for a value out of range."""
        if not 3 <= self.max_length <= 4096:
            raise ConfigError(f"config key '{prefix}max_length' must be between 3 and 4096, not {self.max_length}")
        if not 1 <= self.max_pieces_per_word <= self.max_length - 2:
            raise ConfigError(f"config key '{prefix}max_pieces_per_word' must be between 1 and {prefix}max_length - 2")
        if not 0 <= self.window_overlap < self.max_length - 2:
            raise ConfigError(f"config key '{prefix}window_overlap' must be at least 0 and below {prefix}max_length - 2")

    def check_model(self, model_config: Any, prefix: str = "data.") -> None:
        """Raise ``ConfigError`` when ``max_length`` is over the position limit of ``model_config`` (a
        transformers config): RoBERTa's positions start after the padding index, so 258 embeddings hold 256."""
        limit = position_limit(model_config)
        if limit is not None and self.max_length > limit:
            raise ConfigError(
                f"config key '{prefix}max_length' is {self.max_length}, over the model's limit of {limit} tokens "
                f"(max_position_embeddings {model_config.max_position_embeddings}); set it to {limit} or less"
            )

    def segmenter_options(self) -> dict[str, Any]:
        """Machine-specific options for :func:`vietner.segment.get_segmenter` (none here; a training config
        adds the JVM's): they say where the segmenter runs, never how it segments, so a model does not keep them."""
        return {}

    @classmethod
    def of(cls, values: Any) -> Preprocessing:
        """Return the preprocessing keys of ``values`` (a ``DataConfig`` or a mapping) as a ``Preprocessing``."""
        get = values.get if isinstance(values, dict) else lambda key, default: getattr(values, key, default)
        return cls(**{f.name: get(f.name, f.default) for f in dataclasses.fields(cls)})


def position_limit(model_config: Any) -> int | None:
    """Tokens a model with this transformers config accepts, ``<s>`` and ``</s>`` included (None: unknown)."""
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions is None:
        return None
    if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        return int(positions) - (int(model_config.pad_token_id or 0) + 1)
    return int(positions)


@dataclass
class ModelSettings:
    """What a model directory needs besides the transformers files: its labels and head, and the
    preprocessing it was trained with (the ``data`` section's preprocessing keys).

    Written to ``vietner.json``; inference reads it so a model is always served as it was trained.
    """

    labels: list[str]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    head: str = "softmax"
    base_model: str | None = None
    vietner_version: str = __version__
    format_version: int = 2

    def to_json(self) -> str:
        """Return the settings as the text of ``vietner.json``."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelSettings:
        """Read settings from the text of ``vietner.json``: this format, or version 1's flat keys; unknown keys
        from newer versions are ignored."""
        values = json.loads(text)
        if not isinstance(values, dict) or not isinstance(values.get("labels"), list):
            raise ValueError("not a vietner.json: no list of labels")
        # Version 1 (flat keys) predates tone normalization: its models were trained without it.
        preprocessing = Preprocessing.of(values.get("preprocessing", {**values, "normalize_tones": False}))
        known = {f.name for f in fields(cls)} - {"preprocessing", "format_version"}
        return cls(preprocessing=preprocessing, **{key: value for key, value in values.items() if key in known})
