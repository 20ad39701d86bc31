"""Tiny PhoBERT-architecture model directories for the inference tests: no download, built in seconds.

``write_tokenizer`` learns a PhobertTokenizer vocabulary for a word list; ``random_model`` is a small
randomly initialised RobertaForTokenClassification; ``lookup_model`` is a context-free one (no layers, no
position embeddings) whose tag for a word depends only on the word's first subword, so its right answer is
known in advance. ``save_model_dir`` writes them as train.py does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from transformers import PhobertTokenizer, RobertaConfig, RobertaForTokenClassification

LABELS = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MONEY", "DATE") for p in ("B", "I")]

# Vietnamese-like words (syllables and underscore-joined words) the tiny vocabularies cover.
SYLLABLES = (
    "Sáng Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil tại Việt Nam và tỉnh Gyeonggi Hàn Quốc "
    "ông Nguyễn Văn An đến thành phố Hồ Chí Minh công ty Vingroup ngày 7/9 năm 2023 tỷ đồng USD triệu "
    "Thúc đẩy hợp tác phát triển lĩnh vực công nghệ cao sạch Quang cảnh buổi làm việc của các nhà đầu tư "
    "Trưởng đoàn đại biểu Quốc hội Phó Chủ tịch UBND Mạnh Quyền cho biết hai nước quan hệ ngoại giao"
).split()


def write_tokenizer(words: Iterable[str], directory: Path) -> PhobertTokenizer:
    """A PhobertTokenizer whose BPE vocabulary (modeling.learn_bpe, as train.py builds it) covers ``words``."""
    from vietner.config import ScratchConfig
    from vietner.modeling import scratch_tokenizer

    return scratch_tokenizer(list(words), directory, ScratchConfig(bpe_vocab_size=4000, bpe_min_frequency=1))


def _config(tokenizer: PhobertTokenizer, hidden: int, layers: int, max_length: int) -> RobertaConfig:
    return RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        layer_norm_eps=1e-5,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )


def random_model(tokenizer: PhobertTokenizer, max_length: int = 64, seed: int = 0) -> RobertaForTokenClassification:
    """A 2-layer, 32-wide randomly initialised token classifier; logits spread widely so ties never happen."""
    torch.manual_seed(seed)
    model = RobertaForTokenClassification(_config(tokenizer, 32, 2, max_length)).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    return model


def lookup_model(
    tokenizer: PhobertTokenizer, labels: Mapping[str, str], max_length: int = 64
) -> RobertaForTokenClassification:
    """A context-free classifier: the word whose first subword is that of ``labels``' key gets its value, any
    other word ``O``. No layers and no position embeddings, so windows and batching cannot change a tag."""
    size = len(tokenizer)
    model = RobertaForTokenClassification(_config(tokenizer, size, 0, max_length)).eval()
    target = torch.zeros(size, dtype=torch.long)  # label index per token id
    for word, label in labels.items():
        first = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))[0]
        if target[first] not in (0, LABELS.index(label)):
            raise ValueError(f"first subword of {word!r} is shared with a word of another label")
        target[first] = LABELS.index(label)
    with torch.no_grad():
        embeddings = model.roberta.embeddings
        embeddings.word_embeddings.weight.copy_(torch.eye(size))  # one-hot: a token is its own feature
        embeddings.position_embeddings.weight.zero_()
        embeddings.token_type_embeddings.weight.zero_()
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.LayerNorm.bias.zero_()
        weight = torch.zeros(len(LABELS), size)
        weight[target, torch.arange(size)] = 10.0
        model.classifier.weight.copy_(weight)
        # LayerNorm turns one-hot e_k into v*1 + (u - v)*e_k; the bias cancels the v*1 part, leaving the
        # logits (u - v) * weight[:, k]: a large margin for the word's label.
        off_diagonal = embeddings.LayerNorm(torch.eye(size))[0, 1]
        model.classifier.bias.copy_(-off_diagonal * weight.sum(1))
    return model


def save_model_dir(
    directory: Path,
    model: RobertaForTokenClassification,
    tokenizer: PhobertTokenizer,
    segmenter: str = "underthesea",
    max_length: int = 64,
    overlap: int = 16,
    crf: torch.nn.Module | None = None,
) -> Path:
    """Save ``model`` (and a CRF head) with modeling.save_model_dir, as train.py does, with these settings."""
    from vietner.config import Preprocessing
    from vietner.modeling import ModelSettings, NerModel
    from vietner.modeling import save_model_dir as save

    wrapped = NerModel(model, "softmax" if crf is None else "crf")
    if crf is not None:
        wrapped.crf.load_state_dict(crf.state_dict())
    preprocessing = Preprocessing(segmenter, max_length, overlap, max_pieces_per_word=min(32, max_length - 2))
    settings = ModelSettings(labels=LABELS, preprocessing=preprocessing, head=wrapped.head)
    return save(directory, wrapped, tokenizer, settings)
