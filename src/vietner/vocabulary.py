"""The tokenizer of a model to train: PhoBERT's from the hub or a directory, or the scratch model's, learned here.

* :func:`learn_bpe` learns a BPE vocabulary from the training split's segmented words (``tokenizers``'
  trainer) and exports it in fastBPE format; :func:`scratch_tokenizer` writes it as ``vocab.txt`` +
  ``bpe.codes`` and returns the ``PhobertTokenizer`` reading them (plus the fast twin's ``tokenizer.json``).
* :func:`pretrained_tokenizer` loads ``AutoTokenizer`` from a hub id or a local directory, asking
  :func:`hub_reachable` first so that an offline machine fails at once with a one-line ``ModelLoadError``.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from transformers import AutoTokenizer, PhobertTokenizer, PreTrainedTokenizerBase

from .config import ScratchConfig
from .tokenizer import END_OF_WORD, SPECIALS, fastbpe_piece, save_tokenizer

__all__ = [
    "OFFLINE_CONFIG",
    "ModelLoadError",
    "error_line",
    "hub_error",
    "hub_reachable",
    "learn_bpe",
    "write_phobert_vocabulary",
    "scratch_tokenizer",
    "pretrained_tokenizer",
]

OFFLINE_CONFIG = "configs/tiny.yaml"


class ModelLoadError(OSError):
    """A model or tokenizer that cannot be loaded; the message is one line saying why and what to do."""


# --------------------------------------------------------------------------------------------------------
# The scratch model's vocabulary: BPE learned from the training split, exported in fastBPE format.


def learn_bpe(words: Iterable[str], vocab_size: int = 4000, min_frequency: int = 2) -> tuple[list[str], list[str]]:
    """Learn a BPE vocabulary from ``words`` and return ``(codes_lines, vocab_lines)`` in fastBPE format.

    ``codes_lines`` are ``"a b count"`` merges in the order they were learned (``</w>`` marks the end of a
    word); ``vocab_lines`` are ``"token count"``, word-final pieces bare and others ending in ``@@``, most
    frequent first. Counts are occurrences in the training words' final segmentation (PhobertTokenizer reads
    only the order of the merges). Deterministic: the same words give the same files.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    counts = Counter(unicodedata.normalize("NFC", word) for word in words if word and not word.isspace())
    if not counts:
        raise ValueError("cannot learn a vocabulary from no words")
    # Registering every initial symbol up front fixes their ids, which makes the trainer's tie-breaking
    # between equally frequent pairs (by id) the same in every run; otherwise it follows hash order.
    chars = sorted({c for word in counts for c in word[:-1]})
    finals = sorted({word[-1] + END_OF_WORD for word in counts})
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix=END_OF_WORD))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=chars + finals,
        end_of_word_suffix=END_OF_WORD,
        show_progress=False,
    )
    tokenizer.train_from_iterator((word for word, n in counts.items() for _ in range(n)), trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    used: Counter[str] = Counter()
    for word, n in counts.items():
        for piece in tokenizer.model.tokenize(word):
            used[piece.value] += n
    codes = [f"{a} {b} {used[a + b]}" for a, b in merges]
    symbols = [token for token in model["vocab"] if token.strip() and " " not in token]
    pieces = {fastbpe_piece(token): used[token] for token in symbols}
    vocab = [
        f"{piece} {n}"
        for piece, n in sorted(pieces.items(), key=lambda item: (-item[1], item[0]))
        if piece and piece not in SPECIALS
    ]
    return codes, vocab


def write_phobert_vocabulary(words: Iterable[str], directory: str | os.PathLike, scratch: ScratchConfig) -> Path:
    """Learn BPE from ``words`` and write ``vocab.txt`` and ``bpe.codes`` into ``directory``; return it."""
    codes, vocab = learn_bpe(words, scratch.bpe_vocab_size, scratch.bpe_min_frequency)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bpe.codes").write_text("".join(line + "\n" for line in codes), encoding="utf-8")
    (directory / "vocab.txt").write_text("".join(line + "\n" for line in vocab), encoding="utf-8")
    return directory


def scratch_tokenizer(words: Iterable[str], directory: str | os.PathLike, scratch: ScratchConfig) -> PhobertTokenizer:
    """Return a ``PhobertTokenizer`` whose vocabulary is learned from ``words``, saved in ``directory`` with its
    fast twin's ``tokenizer.json`` (a learned vocabulary holds every piece its merges make)."""
    directory = write_phobert_vocabulary(words, directory, scratch)
    tokenizer = PhobertTokenizer(str(directory / "vocab.txt"), str(directory / "bpe.codes"))
    save_tokenizer(tokenizer, directory)
    return tokenizer


def error_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type's name when it has none), for one-line errors."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def hub_error(name: str, error: BaseException) -> ModelLoadError:
    """The one-line error for ``name`` that is no local directory and that the hub did not serve."""
    return ModelLoadError(
        f"cannot load {name!r}: it is not a local directory and the Hugging Face hub did not serve it "
        f"(unreachable, offline, or no such model: {error_line(error)}); to train offline use {OFFLINE_CONFIG}"
    )


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub's host accepts a connection within ``timeout`` seconds (False when
    ``HF_HUB_OFFLINE`` is set). Asked once before loading: offline, transformers would retry for about a
    minute before failing; with the answer, it reads the local cache only and fails (or loads) at once."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlsplit(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


def pretrained_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """Return ``AutoTokenizer.from_pretrained(name_or_path)`` (PhoBERT: the slow ``PhobertTokenizer``)."""
    local = Path(name_or_path).is_dir()
    try:
        return AutoTokenizer.from_pretrained(name_or_path, local_files_only=local or not hub_reachable())
    except Exception as error:  # noqa: BLE001 - network, missing files and bad repos all end here
        if local:
            raise ModelLoadError(f"cannot load a tokenizer from {name_or_path}: {error_line(error)}") from None
        raise hub_error(name_or_path, error) from None
