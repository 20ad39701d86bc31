"""A fast PhoBERT tokenizer: ``PhobertTokenizer``'s BPE expressed with the ``tokenizers`` library.

PhoBERT ships only a slow, pure-Python tokenizer (fastBPE's format: ``vocab.txt`` lists pieces, non-final
ones ending in ``@@``; ``bpe.codes`` lists merges over symbols whose word-final ones end in ``</w>``). The
tokenizer built here gives the same ids:

* words are the matches of ``\\S+\\n?`` (Python's idea of whitespace), as in ``PhobertTokenizer._tokenize``;
* a ``tokenizers`` BPE model with ``end_of_word_suffix="</w>"`` applies the merges by rank; its symbols
  are written in the merges' notation (``Hà_Nội</w>`` for the slow tokenizer's ``Hà_Nội``, ``Hà@@`` is
  ``Hà``), and each symbol's id is the slow tokenizer's id of its piece, ``<unk>`` when the vocabulary
  lacks the piece (PhoBERT's ``Trần_văn_thời`` -> ``Trần_@@ <unk> ời``);
* ``<s> X </s>`` and ``<s> A </s></s> B </s>``, the fairseq ids ``<s>=0 <pad>=1 </s>=2 <unk>=3``.

``tokenizers`` keys merges by the ids of their two symbols and serializes one symbol per id, so symbols
that share an id (every piece the vocabulary lacks is ``<unk>``; ``a@@`` names both a non-final ``a`` and a
final ``a@@``) cannot be written to a ``tokenizer.json``: :func:`shared_symbols` lists them, and
:func:`fast_phobert` refuses such a vocabulary rather than write one that differs. A vocabulary learned by
vietner has none. :class:`WordEncoder`, what vietner itself tokenizes with, gives such symbols ids of their
own while merging and maps them back afterwards, so it equals the slow tokenizer on every vocabulary.

    python -m vietner.tokenizer convert vinai/phobert-base OUT_DIR   # a directory or the local HF cache
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

__all__ = [
    "SPECIALS",
    "END_OF_WORD",
    "fastbpe_piece",
    "bpe_symbol",
    "phobert_backend",
    "symbol_ids",
    "shared_symbols",
    "UnrepresentableVocabulary",
    "vocabulary_size",
    "fast_phobert",
    "save_fast",
    "is_phobert",
    "slow_files",
    "save_tokenizer",
    "WordEncoder",
    "convert",
    "main",
]

# PhobertTokenizer gives ids 0-3 to the first four and reads the rest of the vocabulary from vocab.txt;
# <mask> comes after the vocabulary.
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
END_OF_WORD = "</w>"
_CONTINUATION = "@@"
# PhobertTokenizer splits words with Python's ``\S+\n?``; the Rust regex's \s is not Python's (U+001C-1F,
# U+0085 differ), so the whitespace class is spelled out from str.isspace, which is what Python's \s means.
_WHITESPACE = "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
WORD_PATTERN = f"[^{_WHITESPACE}]+\\n?"


def fastbpe_piece(symbol: str) -> str:
    """Return a BPE symbol as PhobertTokenizer writes it: word-final pieces bare, others with ``@@``."""
    return symbol[: -len(END_OF_WORD)] if symbol.endswith(END_OF_WORD) else symbol + _CONTINUATION


def bpe_symbol(piece: str) -> str:
    """Return the BPE symbol a ``vocab.txt`` piece names (the inverse of :func:`fastbpe_piece`)."""
    return piece[: -len(_CONTINUATION)] if piece.endswith(_CONTINUATION) else piece + END_OF_WORD


def symbol_ids(vocab: Mapping[str, int], merges: Sequence[tuple[str, str]], unk_id: int) -> dict[str, int]:
    """Every symbol the merges read or make, and every vocabulary piece's symbol, with the slow tokenizer's id
    of its piece (``unk_id`` where the vocabulary lacks it)."""
    symbols = {bpe_symbol(piece) for piece in vocab if piece not in SPECIALS}
    for a, b in merges:
        symbols.update((a, b, a + b))
    return {symbol: vocab.get(fastbpe_piece(symbol), unk_id) for symbol in sorted(symbols)}


def shared_symbols(symbol_ids: Mapping[str, int], specials: Mapping[str, int]) -> list[str]:
    """The symbols whose id another symbol or a special token has too, ``<unk>``'s included: pieces the
    vocabulary lacks, ``a@@`` (which names both a non-final ``a`` and a final ``a@@``), a word spelling
    ``<s>``. A ``tokenizers`` BPE keys merges by id and writes one symbol per id, so ``tokenizer.json`` can
    only hold a vocabulary without them."""
    shared = Counter([*symbol_ids.values(), *specials.values()])
    return sorted(s for s, i in symbol_ids.items() if shared[i] > 1)


def phobert_backend(symbol_ids: Mapping[str, int], merges: Sequence[tuple[str, str]], specials: Mapping[str, int]) -> Tokenizer:
    """Return the ``tokenizers.Tokenizer`` whose BPE gives ``symbol_ids`` (see :func:`symbol_ids`) to the
    symbols ``merges`` (in rank order) make, with the ids of the ``specials`` (``<s>`` to ``<mask>``)."""
    bpe_vocab = {**symbol_ids, **specials}
    tokenizer = Tokenizer(models.BPE(bpe_vocab, list(merges), unk_token=SPECIALS[3], end_of_word_suffix=END_OF_WORD))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True)
    bos, eos = SPECIALS[0], SPECIALS[2]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, specials[bos]), (eos, specials[eos])],
    )
    tokenizer.decoder = decoders.BPEDecoder(suffix=END_OF_WORD)
    return tokenizer


def _tables(tokenizer: Any) -> tuple[dict[str, int], list[tuple[str, str]], dict[str, int]]:
    """``(symbol ids, merges in rank order, special ids)`` of a ``PhobertTokenizer``, or of a fast tokenizer
    made by :func:`fast_phobert` (whose ``tokenizer.json`` holds the symbols with their ids)."""
    if getattr(tokenizer, "is_fast", False):
        state = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
        symbols = {s: i for s, i in state["vocab"].items() if s not in SPECIALS}
    else:
        # bpe_ranks is a dict: a merge listed twice keeps its last rank, as PhobertTokenizer reads it.
        merges = [pair for pair, _ in sorted(tokenizer.bpe_ranks.items(), key=lambda item: item[1]) if len(pair) == 2]
        symbols = symbol_ids(tokenizer.get_vocab(), merges, tokenizer.unk_token_id)
    specials = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIALS}
    return symbols, merges, specials


def vocabulary_size(tokenizer: Any) -> int:
    """The number of embedding rows ``tokenizer``'s ids need: one past its largest id (a fast PhoBERT
    tokenizer names more symbols than it has ids, so ``len()`` would overcount)."""
    return max(tokenizer.get_vocab().values()) + 1


class UnrepresentableVocabulary(ValueError):
    """A PhoBERT vocabulary whose merges make pieces it lacks: no ``tokenizer.json`` gives them ``<unk>``."""


def fast_phobert(slow: Any) -> Any:
    """Return a ``PreTrainedTokenizerFast`` with the ids of the ``PhobertTokenizer`` ``slow``: same vocabulary,
    merges, special tokens (ids and strip flags), pair template and truncation.

    Raises :class:`UnrepresentableVocabulary` when :func:`shared_symbols` finds any (use :class:`WordEncoder`)."""
    from transformers import PreTrainedTokenizerFast

    symbols, merges, specials = _tables(slow)
    shared = shared_symbols(symbols, specials)
    if shared:
        raise UnrepresentableVocabulary(
            f"{len(shared)} BPE symbols share an id (e.g. {', '.join(map(repr, shared[:3]))}: pieces the merges make but vocab.txt lacks are "
            "all <unk>); a tokenizer.json keys merges by id and keeps one symbol per id, so it cannot reproduce them"
        )
    backend = phobert_backend(symbols, merges, specials)
    backend.add_special_tokens(list(slow.added_tokens_decoder.values()))
    names = ("bos_token", "eos_token", "sep_token", "cls_token", "unk_token", "pad_token", "mask_token")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=slow.model_max_length,
        padding_side=slow.padding_side,
        truncation_side=slow.truncation_side,
        clean_up_tokenization_spaces=False,
        **{name: str(getattr(slow, name)) for name in names},
    )


def save_fast(slow: Any, directory: str | os.PathLike) -> Any:
    """Write ``slow``'s files and ``tokenizer.json`` into ``directory``; return the fast tokenizer.

    ``tokenizer_config.json`` names ``PreTrainedTokenizerFast``, so ``AutoTokenizer.from_pretrained`` returns
    the fast tokenizer; ``vocab.txt`` and ``bpe.codes`` stay for ``PhobertTokenizer.from_pretrained``."""
    fast = fast_phobert(slow)
    slow.save_pretrained(str(directory))
    fast.save_pretrained(str(directory))
    config_file = Path(directory) / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return fast


def is_phobert(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` is a ``PhobertTokenizer`` or a fast tokenizer made by :func:`fast_phobert`."""
    if getattr(tokenizer, "is_fast", False):
        model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
        return model.get("type") == "BPE" and model.get("end_of_word_suffix") == END_OF_WORD
    return hasattr(tokenizer, "bpe_ranks") and hasattr(tokenizer, "encoder")


def slow_files(tokenizer: Any) -> Any:
    """The ``PhobertTokenizer`` behind ``tokenizer``: itself, or for a fast one loaded from a directory, the
    ``vocab.txt`` + ``bpe.codes`` saved beside its ``tokenizer.json``; None when there is none."""
    if not getattr(tokenizer, "is_fast", False):
        return tokenizer if is_phobert(tokenizer) else None
    directory = Path(str(tokenizer.name_or_path))
    if (directory / "vocab.txt").is_file() and (directory / "bpe.codes").is_file():
        from transformers import PhobertTokenizer

        return PhobertTokenizer.from_pretrained(str(directory), local_files_only=True)
    return None


def save_tokenizer(tokenizer: Any, directory: str | os.PathLike) -> bool:
    """Save ``tokenizer`` into ``directory`` as a model directory holds it: a PhoBERT one as ``vocab.txt`` +
    ``bpe.codes`` and, where the vocabulary allows (:func:`fast_phobert`), ``tokenizer.json``, which
    ``AutoTokenizer`` then loads; any other as ``save_pretrained`` writes it. Return whether it loads fast."""
    slow = slow_files(tokenizer)
    if slow is None:
        tokenizer.save_pretrained(str(directory))
        return bool(getattr(tokenizer, "is_fast", False))
    try:
        save_fast(slow, directory)
    except UnrepresentableVocabulary:
        slow.save_pretrained(str(directory))
        return False
    return True


class WordEncoder:
    """Subword ids of many words in one batch call, id for id what ``PhobertTokenizer.tokenize`` +
    ``convert_tokens_to_ids`` give each word with ``split_special_tokens`` (``<pad>`` written in a text is
    text). Built from a fast PhoBERT tokenizer (``tokenizer.json``) or a slow one."""

    def __init__(self, tokenizer: Any) -> None:
        symbols, merges, specials = _tables(tokenizer)
        # Symbols sharing an id get ids past every real one while merging, mapped back to the shared id after.
        first = max([*symbols.values(), *specials.values()]) + 1
        shared = shared_symbols(symbols, specials)
        own = {symbol: first + n for n, symbol in enumerate(shared)}
        self.remap = {own[symbol]: symbols[symbol] for symbol in shared}
        self.backend = phobert_backend({**symbols, **own}, merges, specials)
        self.backend.encode_special_tokens = True

    def __call__(self, words: Sequence[str]) -> list[list[int]]:
        """Return the subword ids of each of ``words`` (an empty or all-whitespace word: ``[]``)."""
        out: list[list[int]] = [[] for _ in words]
        if not out:
            return out
        # One pre-tokenized encoding for all the words is about twice as fast as encode_batch's one per word;
        # word_ids() says which word each id belongs to.
        encoding = self.backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
        remap = self.remap
        for i, word in zip(encoding.ids, encoding.word_ids):
            out[word].append(remap.get(i, i) if remap else i)
        return out


# --------------------------------------------------------------------------------------------------------
# python -m vietner.tokenizer convert SRC OUT_DIR


def _load_slow(source: str) -> Any:
    """The ``PhobertTokenizer`` of a directory or a hub id in the local cache (never downloaded)."""
    from transformers import PhobertTokenizer

    return PhobertTokenizer.from_pretrained(source, local_files_only=True)


def convert(source: str, out_dir: str | os.PathLike, overwrite: bool = False) -> Any:
    """Write ``source``'s tokenizer with ``tokenizer.json`` into ``out_dir`` atomically; return the fast one."""
    from .storage import atomic_directory

    slow = _load_slow(source)
    fast = fast_phobert(slow)  # before creating anything: an unrepresentable vocabulary writes nothing
    with atomic_directory(out_dir, overwrite=overwrite) as tmp:
        save_fast(slow, tmp)
    return fast


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vietner.tokenizer convert SRC OUT_DIR``: exit 0, or 2 with a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m vietner.tokenizer", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("convert", help="write a PhoBERT tokenizer with tokenizer.json (offline)")
    command.add_argument("source", help="a directory with vocab.txt and bpe.codes, or a hub id in the local cache")
    command.add_argument("out_dir", help="directory to write (vocab.txt, bpe.codes, tokenizer.json, configs)")
    command.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    args = parser.parse_args(argv)
    try:
        slow = _load_slow(args.source)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"error: cannot read a PhoBERT tokenizer from {args.source!r} (a directory with vocab.txt and bpe.codes, "
              f"or a hub id already in the local cache; nothing is downloaded): {first}", file=sys.stderr)
        return 2
    try:
        fast = convert(args.source, args.out_dir, args.overwrite)
    except (FileExistsError, UnrepresentableVocabulary) as error:
        print(f"error: {args.source}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}: tokenizer.json with {vocabulary_size(fast)} ids; AutoTokenizer.from_pretrained loads it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
