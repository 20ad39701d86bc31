import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    PhobertTokenizer,
    PreTrainedTokenizerFast,
    RobertaForTokenClassification,
)

from vietner.config import ModelConfig, Preprocessing, ScratchConfig
from vietner.encoding import IGNORE_INDEX, WordPieces
from vietner.modeling import (
    CRF_FILE,
    SETTINGS_FILE,
    ModelLoadError,
    ModelSettings,
    build_model,
    learn_bpe,
    load_model_dir,
    pretrained_tokenizer,
    save_model_dir,
    scratch_tokenizer,
    sentence_words,
)

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
WORDS = ["Hà_Nội", "tiếp", "bà", "Kang_Kum-Sil", "tại", "Hà_Nội", "và", "Seoul", "ngày", "7/9", "."] * 5 + [
    "Hàn_Quốc",
    "Việt_Nam",
    "Hải_Phòng",
    "Hà_Giang",
]
SMALL = ScratchConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, bpe_vocab_size=300)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return scratch_tokenizer(WORDS, tmp_path_factory.mktemp("tok"), SMALL)


def test_bpe_files_are_in_fastbpe_format(tmp_path):
    codes, vocab = learn_bpe(WORDS, vocab_size=300, min_frequency=2)
    assert codes and vocab
    for line in codes:
        a, b, count = line.split(" ")
        assert a and b and count.isdigit()
    for line in vocab:
        token, count = line.rsplit(" ", 1)
        assert token and count.isdigit() and "</w>" not in token
    pieces = {line.rsplit(" ", 1)[0] for line in vocab}
    assert "Hà_Nội" in pieces  # a frequent word is one piece
    assert any(p.endswith("@@") for p in pieces)  # non-final pieces carry @@
    assert not pieces & {"<s>", "<pad>", "</s>", "<unk>"}


def test_bpe_is_deterministic():
    assert learn_bpe(WORDS, 300, 1) == learn_bpe(list(WORDS), 300, 1)


def test_scratch_tokenizer_is_phobert_and_covers_training_words(tokenizer, tmp_path):
    assert isinstance(tokenizer, PhobertTokenizer)
    assert [tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id] == [0, 1, 2, 3]
    pieces = WordPieces(tokenizer)(sorted(set(WORDS)))
    assert all(tokenizer.unk_token_id not in ids for ids in pieces)
    assert tokenizer.tokenize("Hà_Nội") == ["Hà_Nội"]
    # an unseen word splits into known subwords, the non-final ones marked with @@
    unseen = tokenizer.tokenize("Hà_Tĩnh")
    assert len(unseen) > 1 and all(p.endswith("@@") for p in unseen[:-1])
    # what the saved files say is what PhobertTokenizer reads back
    tokenizer.save_pretrained(str(tmp_path))
    again = PhobertTokenizer(str(tmp_path / "vocab.txt"), str(tmp_path / "bpe.codes"))
    assert again.get_vocab() == tokenizer.get_vocab()


def test_scratch_model_is_phobert_architecture(tokenizer):
    model = build_model(ModelConfig(name_or_path=None, scratch=SMALL), LABELS, tokenizer)
    assert isinstance(model.encoder, RobertaForTokenClassification)
    config = model.config
    assert config.max_position_embeddings == 258  # 256 tokens + RoBERTa's padding offset, as PhoBERT
    assert config.vocab_size == len(tokenizer)
    assert config.id2label == dict(enumerate(LABELS))
    assert config.label2id == {label: i for i, label in enumerate(LABELS)}
    assert config.pad_token_id == tokenizer.pad_token_id


def test_scratch_model_is_seeded(tokenizer):
    torch.manual_seed(0)
    a = build_model(ModelConfig(name_or_path=None, scratch=SMALL), LABELS, tokenizer)
    torch.manual_seed(0)
    b = build_model(ModelConfig(name_or_path=None, scratch=SMALL), LABELS, tokenizer)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_sentence_words_regroup_windows_into_sentences():
    # Three windows: sentence 0 spans the first two (its words at positions 1, 3 then 2), sentence 1 the third.
    mask = torch.tensor([[False, True, False, True], [False, False, True, False], [False, True, True, False]])
    values = torch.arange(12).reshape(3, 4)
    words, valid = sentence_words(values, mask, torch.tensor([0, 0, 1]))
    assert words.tolist() == [[1, 3, 6], [9, 10, 0]]
    assert valid.tolist() == [[True, True, True], [True, True, False]]


def batch():
    input_ids = torch.tensor([[0, 4, 5, 6, 2], [0, 7, 2, 1, 1]])
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, 3, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    return input_ids, (input_ids != 1).long(), labels


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_heads_give_a_loss_that_training_lowers(tokenizer, head):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name_or_path=None, head=head, scratch=SMALL), LABELS, tokenizer)
    assert (model.crf is not None) == (head == "crf")
    input_ids, attention, labels = batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model(input_ids, attention, labels).loss
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert float(model(input_ids, attention, labels).loss) < first / 2
    # one tag per word, and the tiny batch has been learned
    assert model.decode(*sentence_words(model(input_ids, attention).logits, labels != IGNORE_INDEX)) == [[1, 2], [3]]


def test_crf_loss_and_decode_read_only_word_positions(tokenizer):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name_or_path=None, head="crf", scratch=SMALL), LABELS, tokenizer).eval()
    input_ids, attention, labels = batch()
    logits = model(input_ids, attention).logits
    # changing the logits of a non-word position (a later subword) changes nothing
    bumped = logits.clone()
    bumped[0, 3] += 100
    words = labels != IGNORE_INDEX
    assert model.decode(*sentence_words(logits, words)) == model.decode(*sentence_words(bumped, words))


def test_crf_loss_is_over_the_whole_sentence_across_its_windows(tokenizer):
    # Two windows of one sentence: the loss is the CRF's on the sentence's words joined, not on each window
    # alone (which would count a start transition in the middle of the sentence).
    torch.manual_seed(0)
    model = build_model(ModelConfig(name_or_path=None, head="crf", scratch=SMALL), LABELS, tokenizer).eval()
    with torch.no_grad():
        model.crf.start_transitions.copy_(torch.tensor([0.0, 3.0, -3.0, 1.0, -1.0]))
    input_ids, attention, labels = batch()
    words = labels != IGNORE_INDEX
    with torch.no_grad():
        logits = model(input_ids, attention).logits
        joined = -model.crf(logits[words][None], labels[words][None], reduction="token_mean")
        as_one = model(input_ids, attention, labels, words, sentence=torch.tensor([0, 0])).loss
        as_two = model(input_ids, attention, labels, words, sentence=torch.tensor([0, 1])).loss
    assert as_one == pytest.approx(float(joined), abs=1e-5)
    assert abs(float(as_two) - float(as_one)) > 1e-3


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_model_dir_round_trip(tokenizer, tmp_path, head):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name_or_path=None, head=head, scratch=SMALL), LABELS, tokenizer).eval()
    settings = ModelSettings(labels=LABELS, preprocessing=Preprocessing(segmenter="none", window_overlap=32), head=head)
    target = tmp_path / "model"
    save_model_dir(target, model, tokenizer, settings)
    files = {p.name for p in target.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.txt", "bpe.codes", "tokenizer.json", "tokenizer_config.json", SETTINGS_FILE} <= files
    assert (CRF_FILE in files) == (head == "crf")
    assert json.loads((target / SETTINGS_FILE).read_text())["preprocessing"]["segmenter"] == "none"

    loaded = load_model_dir(target)
    assert loaded.settings == settings
    assert isinstance(loaded.tokenizer, PreTrainedTokenizerFast)  # the fast twin of the learned PhobertTokenizer
    input_ids, attention, labels = batch()
    with torch.no_grad():
        expected = model.decode(*sentence_words(model(input_ids, attention).logits, labels != IGNORE_INDEX))
        got = loaded.model.decode(*sentence_words(loaded.model(input_ids, attention).logits, labels != IGNORE_INDEX))
    assert expected == got

    # plain transformers loads it too, with the label names
    plain = AutoModelForTokenClassification.from_pretrained(str(target))
    assert plain.config.id2label[1] == "B-LOC"
    assert isinstance(AutoTokenizer.from_pretrained(str(target)), PreTrainedTokenizerFast)
    assert json.loads((target / "config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert isinstance(PhobertTokenizer.from_pretrained(str(target)), PhobertTokenizer)  # the slow files stay
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=input_ids, attention_mask=attention).logits, model(input_ids, attention).logits)


def test_saving_replaces_an_old_model_whole(tokenizer, tmp_path):
    model = build_model(ModelConfig(name_or_path=None, scratch=SMALL), LABELS, tokenizer)
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    save_model_dir(target, model, tokenizer, ModelSettings(labels=LABELS))
    assert not (target / "stale.bin").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary directories left behind


def test_load_model_dir_needs_vietner_json(tmp_path):
    with pytest.raises(ModelLoadError, match="vietner.json"):
        load_model_dir(tmp_path)


def test_local_directory_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        pretrained_tokenizer(str(tmp_path))
    with pytest.raises(ModelLoadError):
        build_model(ModelConfig(name_or_path=str(tmp_path)), LABELS, None)


def test_unreachable_hub_is_one_line_naming_the_offline_config():
    # HF_HUB_OFFLINE makes the hub unreachable at once instead of after minutes of retries.
    code = (
        "from vietner.modeling import ModelLoadError, pretrained_tokenizer\n"
        "try:\n    pretrained_tokenizer('vinai/phobert-base')\n"
        "except ModelLoadError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(Path(os.environ.get("TMPDIR", "/tmp")) / "vietner-empty-hf-home")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("ERR")]
    assert len(lines) == 1, out.stdout + out.stderr
    assert "vinai/phobert-base" in lines[0] and "configs/tiny.yaml" in lines[0]


def test_version_1_settings_still_load():
    old = {"labels": LABELS, "segmenter": "none", "max_length": 128, "window_overlap": 8, "max_pieces_per_word": 16, "head": "crf", "format_version": 1}
    settings = ModelSettings.from_json(json.dumps(old))
    assert settings.preprocessing == Preprocessing("none", 128, 8, 16, normalize_tones=False) and settings.head == "crf"


def test_an_offline_machine_fails_fast_without_hf_hub_offline():
    # No HF_HUB_OFFLINE: the hub's host is asked once (3 s at most) instead of transformers' minute of retries.
    code = (
        "import time\nfrom vietner.modeling import ModelLoadError, hub_reachable, pretrained_tokenizer\n"
        "if hub_reachable():\n    print('REACHABLE')\nelse:\n    start = time.perf_counter()\n"
        "    try:\n        pretrained_tokenizer('vinai/phobert-base')\n"
        "    except ModelLoadError as e:\n        print('ERR', round(time.perf_counter() - start, 1), e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "vietner-empty-hf-home")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if "REACHABLE" in out.stdout:
        pytest.skip("the Hugging Face hub is reachable from this machine")
    line = next(line for line in out.stdout.splitlines() if line.startswith("ERR"))
    assert float(line.split()[1]) < 10, line


def test_a_model_directory_as_base_keeps_shared_label_rows_by_name_and_drops_the_rest(tokenizer, tmp_path):
    # Stage 1 had LOC and PER; stage 2 has DATE, LOC and ORG: O and LOC rows move to their new places
    # unchanged, PER's are dropped, DATE's and ORG's are new. Before label matching, the differently sized
    # head was re-initialized whole.
    import transformers

    transformers.set_seed(0)
    base = build_model(ModelConfig(name_or_path=None, head="crf", scratch=SMALL), LABELS, tokenizer, 32)
    settings = ModelSettings(LABELS, Preprocessing(max_length=32, window_overlap=8), "crf")
    directory = save_model_dir(tmp_path / "stage1", base, tokenizer, settings)
    labels = ["O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    model = build_model(ModelConfig(name_or_path=str(directory), head="crf", classifier_dropout=0.3), labels, tokenizer, 32)
    assert model.config.id2label == dict(enumerate(labels)) and model.num_labels == 7 and model.crf.num_tags == 7
    old, new = base.encoder.classifier, model.encoder.classifier
    assert new.weight.shape == (7, old.weight.shape[1])
    for label in ("O", "B-LOC", "I-LOC"):
        assert torch.equal(new.weight[labels.index(label)], old.weight[LABELS.index(label)])
        assert torch.equal(new.bias[labels.index(label)], old.bias[LABELS.index(label)])
    for label in ("B-DATE", "I-ORG"):
        assert not any(torch.equal(new.weight[labels.index(label)], row) for row in old.weight)
    keep = [labels.index(label) for label in ("O", "B-LOC", "I-LOC")]
    was = [LABELS.index(label) for label in ("O", "B-LOC", "I-LOC")]
    assert torch.equal(model.crf.transitions[keep][:, keep], base.crf.transitions[was][:, was])
    assert torch.equal(model.crf.end_transitions[keep], base.crf.end_transitions[was])
    assert model.encoder.dropout.p == 0.3
    # The model trains and saves on its new labels.
    out = save_model_dir(tmp_path / "stage2", model, tokenizer, ModelSettings(labels, settings.preprocessing, "crf"))
    assert load_model_dir(out).model.config.label2id == {label: i for i, label in enumerate(labels)}


def test_a_softmax_base_under_a_crf_head_gets_fresh_transitions(tokenizer, tmp_path):
    base = build_model(ModelConfig(name_or_path=None, scratch=SMALL), LABELS, tokenizer, 32)
    directory = save_model_dir(tmp_path / "stage1", base, tokenizer, ModelSettings(LABELS, Preprocessing(max_length=32, window_overlap=8)))
    model = build_model(ModelConfig(name_or_path=str(directory), head="crf"), LABELS, tokenizer, 32)
    assert model.head == "crf" and model.crf.num_tags == len(LABELS)
    assert torch.equal(model.encoder.classifier.weight, base.encoder.classifier.weight)
