"""The token classifier: PhoBERT (or any checkpoint) from transformers, an optional CRF head, and model dirs.

* Pre-trained models load with ``AutoTokenizer`` / ``AutoModelForTokenClassification`` from
  ``model.name_or_path``: a hub id such as ``vinai/phobert-base`` or a local directory.
* The scratch model (``model.name_or_path: null``, ``configs/tiny.yaml``) is PhoBERT's architecture
  (``RobertaForTokenClassification`` with ``PhobertTokenizer``) at a small size, randomly initialized, with a
  ``vocab.txt`` + ``bpe.codes`` pair learned from the training split's segmented words
  (:mod:`vietner.vocabulary`, which also loads pre-trained tokenizers).
* ``model.head: crf`` adds a linear-chain CRF (pytorch-crf) over the word-level emissions (the logits at
  each word's first subword).
* A model directory is ``save_pretrained`` output (model with ``id2label``/``label2id`` and tokenizer: PhoBERT's
  ``vocab.txt``/``bpe.codes`` plus the fast ``tokenizer.json`` of :mod:`vietner.tokenizer`, so plain
  transformers loads it with ``AutoTokenizer``), ``crf.safetensors`` for a CRF head, ``vietner.json`` with
  the segmenter and window settings the model was trained with, and a model card (``README.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    RobertaConfig,
)
from transformers.modeling_outputs import TokenClassifierOutput

from .config import ModelConfig
from .encoding import IGNORE_INDEX
from .settings import SETTINGS_FILE, ModelSettings  # re-exported: callers import them from here
from .storage import as_os_error, atomic_directory, recover, replace_dir  # replace_dir re-exported for callers
from .tokenizer import save_tokenizer, vocabulary_size
# The tokenizer half lives in vocabulary; re-exported, callers import these names from here too.
from .vocabulary import (
    OFFLINE_CONFIG,
    ModelLoadError,
    error_line,
    hub_error,
    hub_reachable,
    learn_bpe,
    pretrained_tokenizer,
    scratch_tokenizer,
    write_phobert_vocabulary,
)

__all__ = [
    "SETTINGS_FILE",
    "CRF_FILE",
    "OFFLINE_CONFIG",
    "ModelLoadError",
    "ModelSettings",
    "NerModel",
    "PHOBERT_BASE_SIZES",
    "phobert_base_config",
    "learn_bpe",
    "write_phobert_vocabulary",
    "scratch_tokenizer",
    "pretrained_tokenizer",
    "build_model",
    "is_model_dir",
    "carry_labels",
    "save_model_dir",
    "load_model_dir",
    "model_identity",
    "replace_dir",
    "LoadedModel",
    "hub_reachable",
    "sentence_words",
]

CRF_FILE = "crf.safetensors"

# --------------------------------------------------------------------------------------------------------
# The model.


def sentence_words(
    values: torch.Tensor, word_mask: torch.Tensor, sentence: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regroup per-window values at the marked word positions into whole sentences.

    ``values`` is ``(windows, positions, ...)``; ``word_mask`` marks each window's core words (first
    subwords); ``sentence`` gives each window's sentence, rows of one sentence consecutive and in window
    order, sentences numbered 0, 1, ... in order (None: every window is a sentence of its own). Returns
    ``(words, mask)``: ``(sentences, longest, ...)`` left-packed, and which entries are real words.
    """
    if sentence is None:
        sentence = torch.arange(word_mask.size(0), device=word_mask.device)
    flat = values[word_mask]  # row-major: windows in order, words in order within a window
    owner = sentence.repeat_interleave(word_mask.sum(dim=1))
    counts = torch.bincount(owner, minlength=int(sentence.max()) + 1 if sentence.numel() else 0)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(flat.size(0), device=flat.device) - starts[owner]
    width = max(int(counts.max()) if counts.numel() else 0, 1)
    words = flat.new_zeros((counts.numel(), width, *flat.shape[1:]))
    words[owner, position] = flat
    mask = torch.arange(width, device=flat.device)[None, :] < counts[:, None]
    return words, mask


class NerModel(nn.Module):
    """A transformers token classifier plus an optional CRF over its word-level emissions.

    ``forward`` returns a ``TokenClassifierOutput`` with the loss when ``labels`` are given: cross-entropy
    over the labelled subwords (softmax head), or the CRF's negative log-likelihood of each whole sentence's
    word emissions, gathered from the core of every window the sentence spans (crf head), in float32
    whatever the autocast precision. :meth:`decode` turns a sentence's word emissions into tag ids, the
    same way for training-time scores and for ``predict()``.
    """

    def __init__(self, encoder: PreTrainedModel, head: str = "softmax") -> None:
        super().__init__()
        if head not in ("softmax", "crf"):
            raise ValueError(f"head must be softmax or crf, not {head!r}")
        self.encoder = encoder
        self.head = head
        self.num_labels = int(encoder.config.num_labels)
        self.crf: nn.Module | None = None
        if head == "crf":
            from torchcrf import CRF

            self.crf = CRF(self.num_labels, batch_first=True)

    @property
    def config(self):
        """The transformers config of the encoder (``id2label``, ``label2id``, sizes)."""
        return self.encoder.config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
        sentence: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        logits = self.encoder(input_ids=input_ids, attention_mask=attention_mask).logits
        loss = None
        if labels is not None:
            with torch.autocast(device_type=logits.device.type, enabled=False):
                loss = self._loss(logits.float(), labels, word_mask if word_mask is not None else labels != IGNORE_INDEX, sentence)
        return TokenClassifierOutput(loss=loss, logits=logits)

    def _loss(
        self, logits: torch.Tensor, labels: torch.Tensor, word_mask: torch.Tensor, sentence: torch.Tensor | None
    ) -> torch.Tensor:
        if self.crf is None:
            return F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        emissions, mask = sentence_words(logits, word_mask, sentence)
        tags, _ = sentence_words(labels, word_mask, sentence)
        return -self.crf(emissions, tags.clamp(min=0), mask=mask, reduction="token_mean")

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Return each sentence's tag ids from its word emissions ``(sentences, words, labels)`` and ``mask``:
        the argmax per word (softmax head), or Viterbi over the whole sentence (crf head)."""
        if self.crf is not None:
            return self.crf.decode(emissions.float(), mask=mask)
        best = emissions.argmax(dim=-1)
        return [row[: int(n)].tolist() for row, n in zip(best, mask.sum(dim=1))]


def _label_maps(labels: Sequence[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


# vinai/phobert-base's config.json: its architecture at random init needs no download (benchmarks).
PHOBERT_BASE_SIZES = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def phobert_base_config(labels: Sequence[str], **sizes: int) -> RobertaConfig:
    """Return PhoBERT-base's architecture (64,001-token vocabulary, 258 positions) labelled with ``labels``;
    ``sizes`` override ``PHOBERT_BASE_SIZES`` (e.g. for a small smoke-test model)."""
    return RobertaConfig(
        vocab_size=64001,
        max_position_embeddings=258,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        tokenizer_class="PhobertTokenizer",
        **{**PHOBERT_BASE_SIZES, **sizes},
        **_label_maps(labels),
    )


def _scratch_encoder(config: ModelConfig, labels: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int) -> PreTrainedModel:
    scratch = config.scratch
    roberta = RobertaConfig(
        vocab_size=vocabulary_size(tokenizer),
        hidden_size=scratch.hidden_size,
        num_hidden_layers=scratch.num_hidden_layers,
        num_attention_heads=scratch.num_attention_heads,
        intermediate_size=scratch.intermediate_size,
        # RoBERTa positions start after the padding index: PhoBERT's 256 tokens need 258 positions.
        max_position_embeddings=max_length + tokenizer.pad_token_id + 1,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        classifier_dropout=config.classifier_dropout,
        tokenizer_class="PreTrainedTokenizerFast" if getattr(tokenizer, "is_fast", False) else type(tokenizer).__name__,
        **_label_maps(labels),
    )
    return AutoModelForTokenClassification.from_config(roberta)


def _pretrained_encoder(config: ModelConfig, labels: Sequence[str]) -> PreTrainedModel:
    name = str(config.name_or_path)
    local = Path(name).is_dir()
    extra = {} if config.classifier_dropout is None else {"classifier_dropout": config.classifier_dropout}
    try:
        return AutoModelForTokenClassification.from_pretrained(
            name,
            local_files_only=local or not hub_reachable(),
            # A transformers checkpoint fine-tuned on other labels gets a fresh classifier instead of an error
            # (a vietner model directory never comes here: build_model carries its labels over by name).
            ignore_mismatched_sizes=True,
            **_label_maps(labels),
            **extra,
        )
    except Exception as error:  # noqa: BLE001
        if local:
            raise ModelLoadError(f"cannot load a model from {name}: {error_line(error)}") from None
        raise hub_error(name, error) from None


def is_model_dir(name_or_path: str | os.PathLike | None) -> bool:
    """Whether ``name_or_path`` is a model directory written by train.py (it holds ``vietner.json``)."""
    return name_or_path is not None and (Path(name_or_path) / SETTINGS_FILE).is_file()


def carry_labels(base: NerModel, labels: Sequence[str], head: str) -> NerModel:
    """Return ``base``'s encoder on ``labels`` with a ``head``: the classifier rows (and CRF transitions, when
    both heads are CRFs) of labels ``base`` has are kept, by name; new labels get freshly initialized rows;
    labels ``base`` has and ``labels`` lacks are removed. ``base``'s encoder is reused, not copied."""
    encoder = base.encoder
    classifier = getattr(encoder, "classifier", None)
    if not isinstance(classifier, nn.Linear):
        raise ModelLoadError(f"cannot carry labels over: {type(encoder).__name__} has no linear 'classifier'")
    old = [encoder.config.id2label[i] for i in range(base.num_labels)]
    shared = [(new, old.index(label)) for new, label in enumerate(labels) if label in old]
    rows, before = torch.tensor([n for n, _ in shared], dtype=torch.long), torch.tensor([o for _, o in shared], dtype=torch.long)
    fresh = nn.Linear(classifier.in_features, len(labels), bias=classifier.bias is not None).to(classifier.weight)
    encoder._init_weights(fresh)  # new rows as the checkpoint's own classifier was initialized
    with torch.no_grad():
        fresh.weight[rows] = classifier.weight[before]
        if fresh.bias is not None:
            fresh.bias[rows] = classifier.bias[before]
    encoder.classifier = fresh
    encoder.num_labels = len(labels)
    encoder.config.update(_label_maps(labels))
    model = NerModel(encoder, head)
    if model.crf is not None and base.crf is not None:
        with torch.no_grad():
            for name in ("start_transitions", "end_transitions"):
                getattr(model.crf, name)[rows] = getattr(base.crf, name)[before]
            model.crf.transitions[rows[:, None], rows[None, :]] = base.crf.transitions[before[:, None], before[None, :]]
    return model


def _from_model_dir(config: ModelConfig, labels: Sequence[str]) -> NerModel:
    """The model of a directory written by train.py, carried over to ``labels`` (stage 2 of a two-stage run)."""
    model = carry_labels(load_model_dir(str(config.name_or_path)).model.train(), labels, config.head)
    if config.classifier_dropout is not None:
        model.encoder.config.classifier_dropout = config.classifier_dropout
        if isinstance(getattr(model.encoder, "dropout", None), nn.Dropout):
            model.encoder.dropout.p = config.classifier_dropout
    return model


def build_model(
    config: ModelConfig, labels: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int = 256
) -> NerModel:
    """Return the model to fine-tune: pre-trained from ``config.name_or_path``, or the scratch model when null.

    A model directory written by train.py keeps its classifier rows (and CRF transitions) of the labels it
    shares with ``labels``, matched by name (:func:`carry_labels`). Call ``transformers.set_seed`` first:
    the classifier (and the whole scratch model) is randomly initialized.
    """
    if is_model_dir(config.name_or_path):
        return _checked(_from_model_dir(config, labels), tokenizer)
    if config.name_or_path is None:
        encoder = _scratch_encoder(config, labels, tokenizer, max_length)
    else:
        encoder = _pretrained_encoder(config, labels)
    return _checked(NerModel(encoder, config.head), tokenizer)


def _checked(model: NerModel, tokenizer: PreTrainedTokenizerBase) -> NerModel:
    """``model``, unless its embeddings cannot hold every token id of ``tokenizer``."""
    encoder = model.encoder
    if encoder.get_input_embeddings().num_embeddings < vocabulary_size(tokenizer):
        raise ModelLoadError(
            f"the tokenizer has {vocabulary_size(tokenizer)} tokens but the model only {encoder.get_input_embeddings().num_embeddings}"
        )
    return model


# --------------------------------------------------------------------------------------------------------
# Model directories.


def save_model_dir(
    directory: str | os.PathLike, model: NerModel, tokenizer: PreTrainedTokenizerBase, settings: ModelSettings, card: str | None = None
) -> Path:
    """Save ``model`` (unwrapped), ``tokenizer`` and ``settings`` to ``directory`` atomically; return it.

    The directory loads with plain transformers (``AutoModelForTokenClassification``/``AutoTokenizer``, the
    fast PhoBERT tokenizer where the vocabulary allows: :func:`vietner.tokenizer.save_tokenizer`); a CRF
    head's transitions are in ``crf.safetensors``, read by :func:`load_model_dir`. ``card``: the text of the
    model card, ``README.md`` (:mod:`vietner.model_card`).
    """
    directory = Path(directory)
    recover(directory)  # a save killed mid-replace left the good copy under a backup name
    # Replacing is the point: train.py saves each better model over the last one.
    try:
        with atomic_directory(directory, overwrite=True) as tmp:
            fast = save_tokenizer(tokenizer, tmp)
            if fast:  # config.json names the tokenizer class too; keep it from pointing plain transformers at the slow one
                model.encoder.config.tokenizer_class = "PreTrainedTokenizerFast"
            model.encoder.save_pretrained(str(tmp), safe_serialization=True)
            if model.crf is not None:
                from safetensors.torch import save_file

                save_file({k: v.detach().cpu().contiguous() for k, v in model.crf.state_dict().items()}, str(tmp / CRF_FILE))
            (tmp / SETTINGS_FILE).write_text(settings.to_json(), encoding="utf-8")
            if card is not None:
                (tmp / "README.md").write_text(card, encoding="utf-8")
    except Exception as error:  # a full disk, as safetensors reports it ("... (os error 28)"), naming no file
        failure = as_os_error(error, directory)
        if failure is None:
            raise
        raise failure from None
    return directory


def model_identity(directory: str | os.PathLike) -> dict[str, Any]:
    """What identifies a model directory's contents: each small file's SHA-256 (``config.json``,
    ``vietner.json``, the tokenizer's), each large one's size and modification time (the weights)."""
    directory = Path(directory)
    identity: dict[str, Any] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        stat = path.stat()
        small = stat.st_size <= 1 << 20
        identity[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest() if small else [stat.st_size, stat.st_mtime_ns]
    return identity


@dataclass
class LoadedModel:
    """What :func:`load_model_dir` returns."""

    model: NerModel
    tokenizer: PreTrainedTokenizerBase
    settings: ModelSettings = field(repr=False)


def load_model_dir(directory: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model directory written by ``train.py``: the model in eval mode, its tokenizer and settings."""
    directory = Path(directory)
    settings_file = directory / SETTINGS_FILE
    if not settings_file.is_file():
        raise ModelLoadError(f"{directory}: no {SETTINGS_FILE}; pass a model directory written by train.py")
    settings = _read_settings(settings_file)
    _check_model_files(directory)
    try:
        encoder = AutoModelForTokenClassification.from_pretrained(str(directory), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    except Exception as error:  # noqa: BLE001
        raise ModelLoadError(f"cannot load the model in {directory}: {error_line(error)}") from None
    model = NerModel(encoder, settings.head)
    if model.crf is not None:
        from safetensors.torch import load_file

        crf_file = directory / CRF_FILE
        if not crf_file.is_file():
            raise ModelLoadError(f"{directory}: {SETTINGS_FILE} says head 'crf' but there is no {CRF_FILE}")
        try:
            model.crf.load_state_dict(load_file(str(crf_file)))
        except RuntimeError as error:  # another label count's transitions
            raise ModelLoadError(f"{crf_file}: does not fit the model ({error_line(error)})") from None
    return LoadedModel(model.to(device).eval(), tokenizer, settings)


def _read_settings(path: Path) -> ModelSettings:
    """``vietner.json`` read and checked; ``ModelLoadError`` naming it for anything malformed."""
    from .config import HEADS
    from .settings import SEGMENTER_NAMES

    try:
        settings = ModelSettings.from_json(path.read_text(encoding="utf-8"))
        if not all(isinstance(label, str) for label in settings.labels) or "O" not in settings.labels:
            raise ValueError("labels must be a list of tag strings with O")
        if settings.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, not {settings.head!r}")
        if settings.preprocessing.segmenter not in SEGMENTER_NAMES:
            raise ValueError(f"segmenter must be one of {', '.join(SEGMENTER_NAMES)}, not {settings.preprocessing.segmenter!r}")
        pre = settings.preprocessing
        if not (3 <= pre.max_length <= 4096 and pre.window_overlap >= 0 and pre.max_pieces_per_word >= 1):
            raise ValueError(f"preprocessing out of range (max_length {pre.max_length}, window_overlap "
                             f"{pre.window_overlap}, max_pieces_per_word {pre.max_pieces_per_word})")
    except json.JSONDecodeError as error:
        raise ModelLoadError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
        raise ModelLoadError(f"{path}: not a valid {SETTINGS_FILE} ({getattr(error, 'strerror', None) or error_line(error)})") from None
    return settings


def _check_model_files(directory: Path) -> None:
    """Raise ``ModelLoadError`` naming the first JSON or safetensors file of ``directory`` that does not read
    (transformers' own errors often name no file)."""
    from safetensors import safe_open

    for path in sorted(directory.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ModelLoadError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ModelLoadError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error_line(error)})") from None
    for path in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as weights:
                for key in weights.keys():
                    weights.get_slice(key)
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error type
            raise ModelLoadError(f"{path}: damaged weights file ({error_line(error)})") from None
