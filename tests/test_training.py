"""train.py end to end on a small synthetic corpus, and the loop's pieces on their own."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from training_fixtures import DATES, FILLERS, ORGS, PERSONS, PLACES, ROOT, free_port, tiny_args, write_corpus

from vietner.config import TrainConfig, load_config
from vietner.corpus import Sentence, load_conll, write_conll
from vietner.encoding import IGNORE_INDEX, Preprocessor
from vietner.batching import LengthGroupedBatches, collate, encode_train
from vietner.schema import labels_for
from vietner.sources import DataError, load_splits, train_words, training_types
from vietner.training import optimizer_groups


# ------------------------------------------------------------------------------------------------------
# End to end.


def test_train_tiny_writes_the_output_directory(trained_softmax, long_corpus):
    # The session's softmax run (conftest.py: tiny settings, 4 epochs, max_length 64, umask 022).
    out, corpus = trained_softmax, long_corpus
    # everything written gets the umask's permissions, none is left owner-only
    modes = {p.relative_to(out): p.stat().st_mode & 0o777 for p in out.rglob("*")}
    assert {m for p, m in modes.items() if (out / p).is_dir()} == {0o755}
    assert {m for p, m in modes.items() if (out / p).is_file()} == {0o644}, modes

    # model/: save_pretrained output + vietner.json, loadable by plain transformers
    from transformers import AutoModelForTokenClassification, AutoTokenizer, PreTrainedTokenizerFast

    model_dir = out / "model"
    settings = json.loads((model_dir / "vietner.json").read_text())["preprocessing"]
    assert settings["segmenter"] == "underthesea" and settings["max_length"] == 64 and settings["window_overlap"] == 16
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir))
    assert set(model.config.label2id) == {"O"} | {f"{p}-{t}" for t in FILLERS for p in "BI"}
    assert isinstance(AutoTokenizer.from_pretrained(str(model_dir)), PreTrainedTokenizerFast)

    # metrics.json: dev per epoch, test at the end, both modes, overall and per type with support
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3, 4]
    assert 1 <= metrics["best_epoch"] <= 4
    for scores in [e["dev"] for e in metrics["epochs"]] + [metrics["test"], metrics["train"]]:
        for mode in ("strict", "default"):
            assert set(scores[mode]["overall"]) == {"precision", "recall", "f1", "support"}
            assert 0 <= scores[mode]["overall"]["f1"] <= 1
    dev_gold = load_conll(corpus["dev"])
    assert metrics["epochs"][0]["dev"]["sentences"] == len(dev_gold)
    assert metrics["test"]["strict"]["overall"]["support"] == sum(t.startswith("B-") for tags in load_conll(corpus["test"])["tags"] for t in tags)
    assert metrics["test"]["strict"]["per_type"]["PER"]["support"] > 0
    assert metrics["dev"]["sentences"] == len(dev_gold)  # the kept model's final scores

    # log.jsonl: one line per epoch, with throughput
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2, 3, 4]
    assert all(row["train_tokens_per_s"] > 0 and 0 <= row["padding_fraction"] < 1 for row in log)

    # config.yaml: the resolved config, which loads back
    assert load_config(out / "config.yaml").train.lr == pytest.approx(3e-3)
    # predictions of the best model, one block per sentence, every syllable present
    predicted = (out / "predictions" / "dev.conll").read_text().split("\n\n")
    assert len([b for b in predicted if b.strip()]) == len(dev_gold)
    assert (out / "checkpoints" / "last" / "trainer_state.json").is_file()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # atomic saves leave no temporaries


def test_an_existing_output_dir_is_not_overwritten(train_main, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert train_main(tiny_args(corpus, out)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "precious"


def test_resume_ends_with_the_same_metrics_as_an_uninterrupted_run(train_main, corpus, tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    settings = ("data.segmenter=none", "train.score_train_split=false")
    assert train_main(tiny_args(corpus, whole, *settings)) == 0
    assert train_main(tiny_args(corpus, cut, *settings) + ["--stop-after-epoch", "1"]) == 0
    interrupted = json.loads((cut / "metrics.json").read_text())
    assert [e["epoch"] for e in interrupted["epochs"]] == [1] and interrupted["test"] is None
    assert train_main(tiny_args(corpus, cut, *settings) + ["--resume"]) == 0

    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((cut / "metrics.json").read_text())
    assert a["epochs"][-1]["train_loss"] > 0
    assert a == b  # losses, dev scores per epoch, best epoch and test scores all equal
    assert len((cut / "log.jsonl").read_text().splitlines()) == 3


def test_resume_refuses_a_changed_config(train_main, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(tiny_args(corpus, out, "data.segmenter=none", "train.epochs=1")) == 0
    assert train_main(tiny_args(corpus, out, "data.segmenter=none", "train.epochs=1", "train.lr=1e-4") + ["--resume"]) == 2
    assert "train.lr" in capsys.readouterr().err


def test_crf_head_trains_in_bf16_and_saves(train_main, corpus, tmp_path):
    # bf16 autocast works on CPU, so the mixed-precision path (and the CRF's float32 cast) runs here too
    out = tmp_path / "run"
    args = tiny_args(corpus, out, "model.head=crf", "data.segmenter=none", "train.epochs=1", "train.score_train_split=false", "train.mixed_precision=bf16")
    assert train_main(args) == 0
    assert (out / "model" / "crf.safetensors").is_file()
    assert json.loads((out / "model" / "vietner.json").read_text())["head"] == "crf"
    assert json.loads((out / "metrics.json").read_text())["epochs"][0]["train_loss"] > 0


def test_gradient_accumulation_takes_fewer_optimizer_steps(train_main, corpus, tmp_path):
    steps = {}
    for accumulation in (1, 3):
        out = tmp_path / f"acc{accumulation}"
        args = tiny_args(corpus, out, "data.segmenter=none", "train.epochs=1", "train.score_train_split=false", f"train.gradient_accumulation_steps={accumulation}")
        assert train_main(args) == 0
        steps[accumulation] = json.loads((out / "metrics.json").read_text())["epochs"][0]["step"]
    assert steps[1] > 3 and steps[3] == -(-steps[1] // 3)


# ------------------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit status 2, no traceback.


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("error: ")
    return lines[-1]


def test_missing_data_file(train_main, corpus, tmp_path, capsys):
    files = {**corpus, "dev": tmp_path / "nope.conll"}
    assert train_main(tiny_args(files, tmp_path / "run")) == 2
    assert "nope.conll" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()  # a run that fails on bad input leaves no output directory behind


def test_fp16_on_cpu_is_a_clear_error(train_main, corpus, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, where fp16 is valid")
    assert train_main(tiny_args(corpus, tmp_path / "run", "train.mixed_precision=fp16")) == 2
    assert "fp16 needs a CUDA GPU" in one_line_error(capsys)


# ------------------------------------------------------------------------------------------------------
# Distributed: two real processes.

AUDIT_HOOK = """
import json, os
_replace = os.replace
def _audited_replace(src, dst, *args, **kwargs):
    with open(os.environ["VIETNER_WRITE_AUDIT"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"rank": os.environ.get("RANK"), "target": os.fspath(dst)}) + "\\n")
    return _replace(src, dst, *args, **kwargs)
os.replace = _audited_replace
"""


def launch_with_one_retry_on_hang(command, env, cwd, out, audit) -> subprocess.CompletedProcess:
    # The run takes 10-20 s. Once in about ten full-suite runs the two-process launch hung until the
    # timeout (cause not found; never reproduced in isolation), so a hang, and only a hang, is retried once
    # from scratch; a run that finishes is judged as it is.
    for attempt in (1, 2):
        # Its own session, so a hung launch is killed with all its worker processes, not just the launcher.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=120)
            return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            if attempt == 2:
                raise
            shutil.rmtree(out, ignore_errors=True)
            audit.unlink(missing_ok=True)
    raise AssertionError("unreachable")


def test_two_processes_score_each_dev_sentence_once_and_one_writes(tmp_path):
    # 48 dev sentences over 2 processes x 5 per batch: the last round is padded with duplicates, which
    # gather_for_metrics must drop.
    files = write_corpus(tmp_path, train=30, dev=47, test=9, long_clauses=30)
    out = tmp_path / "run"
    hook = tmp_path / "hook"
    hook.mkdir()
    # Every atomic write (os.replace) in any process is recorded with the process's rank.
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    audit = tmp_path / "writes.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "VIETNER_WRITE_AUDIT": str(audit),
        # accelerate starts several CPU processes through torchrun (--multi_gpu) when told to use the CPU;
        # `accelerate launch --cpu --num_processes 2` alone starts one process unless MPI is installed.
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        str(ROOT / "train.py"), *tiny_args(files, out, "data.segmenter=none", "train.epochs=2", "train.max_steps=3"),
    ]
    result = launch_with_one_retry_on_hang(command, env, tmp_path, out, audit)
    assert result.returncode == 0, result.stderr[-3000:]

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2
    dev_gold = load_conll(files["dev"])
    assert len(dev_gold) == 48
    for epoch in metrics["epochs"]:
        assert epoch["dev"]["sentences"] == 48  # each dev sentence scored once (evaluate checks each window)
        assert epoch["dev"]["strict"]["overall"]["support"] == sum(t.startswith("B-") for tags in dev_gold["tags"] for t in tags)
    blocks = [b for b in (out / "predictions" / "dev.conll").read_text().split("\n\n") if b.strip()]
    ids = Counter(b.splitlines()[0] for b in blocks)
    assert len(ids) == 48 and set(ids.values()) == {1}
    assert len((out / "log.jsonl").read_text().splitlines()) == len(metrics["epochs"])
    # both processes took part in checkpoints (each saves its RNG state) ...
    assert {p.name for p in (out / "checkpoints" / "last").glob("random_states_*")} == {"random_states_0.pkl", "random_states_1.pkl"}
    # ... but every output file was put in place by rank 0 only
    writes = [json.loads(line) for line in audit.read_text().splitlines()]
    ranks = Counter(w["rank"] for w in writes if w["rank"] is not None)
    assert ranks["0"] >= 5 and set(ranks) == {"0"}, ranks
    assert metrics["epochs"][-1]["step"] == 3  # max_steps counts optimizer steps, the same on both processes


# ------------------------------------------------------------------------------------------------------
# Pieces.


def test_labels_come_from_training_and_errors_name_the_sentence(corpus, tmp_path):
    splits = load_splits(load_config(None, [f"data.{s}_file={p}" for s, p in corpus.items()]).data)
    labels = labels_for(training_types(splits))
    assert labels[0] == "O" and len(labels) == 11 and labels[1:3] == ["B-DATE", "I-DATE"]
    dev = tmp_path / "dev.conll"
    write_conll([Sentence(("Giải", "Nobel"), ("B-AWARD", "I-AWARD"), "dev-x")], dev)
    unseen = load_splits(load_config(None, [f"data.{s}_file={p}" for s, p in {**corpus, "dev": dev}.items()]).data)
    with pytest.raises(DataError, match=r"label 'B-AWARD' in dev sentence 'dev-x' never occurs in the training split"):
        training_types(unseen)


def test_training_windows_respect_the_limit_and_label_each_word_once(corpus):
    data = load_config(None, [f"data.{s}_file={p}" for s, p in corpus.items()]).data
    splits = load_splits(data)
    labels = labels_for(training_types(splits))
    from vietner.config import ScratchConfig
    from vietner.modeling import scratch_tokenizer
    from vietner.segment import syllable_tags, word_tags

    preprocessor = Preprocessor(None, data)
    words = train_words(splits["train"], preprocessor)
    strings = [w for t, s in zip(splits["train"]["tokens"], words) for w in preprocessor.word_strings(t, s)]
    preprocessor.tokenizer = scratch_tokenizer(strings, Path(corpus["train"]).parent / "tok", ScratchConfig(bpe_vocab_size=200))
    encoded = encode_train(splits["train"], words, preprocessor, labels)
    assert len(encoded) == len(splits["train"])  # one row per sentence, holding all its windows
    long_row = encoded[len(encoded) - 1]
    assert len(words[-1]) >= 600 and len(long_row["input_ids"]) > 2
    windows = [ids for row in encoded for ids in row["input_ids"]]
    assert all(len(ids) <= 256 and ids[0] == 0 and ids[-1] == 2 for ids in windows)
    # every word of every sentence carries its label exactly once, across its windows, in order
    for row, spans, tags in zip(encoded, words, splits["train"]["tags"]):
        got = [label for window in row["labels"] for label in window if label != IGNORE_INDEX]
        assert got == [labels.index(t) for t in word_tags(spans, tags)]
        # no gold entity is lost to segmentation in training
        assert syllable_tags(spans, word_tags(spans, tags)) == list(tags)


def test_length_grouped_batches_cut_padding_and_are_seeded():
    rng = random.Random(1)
    lengths = [rng.randint(5, 200) for _ in range(500)]
    grouped = LengthGroupedBatches(lengths, 16, seed=3, group_size=50)
    shuffled = LengthGroupedBatches(lengths, 16, seed=3, group_by_length=False)

    def padding(batches):
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        return 1 - sum(lengths) / padded

    batches = grouped.batches()
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) == 16 for b in batches[:-1]) and len(batches[-1]) == 500 % 16  # the short batch last
    assert padding(batches) < padding(shuffled.batches()) / 3
    assert grouped.batches() == batches  # same epoch, same batches
    grouped.set_epoch(1)
    assert grouped.batches() != batches
    assert len(grouped) == 32


def test_collate_pads_dynamically_and_keeps_a_sentences_windows_together():
    features = [
        {"input_ids": [[0, 5, 6, 2]], "labels": [[-100, 1, -100, -100]], "word_starts": [[1]]},
        {"input_ids": [[0, 7, 2], [0, 8, 9, 2]], "labels": [[-100, 3, -100], [-100, -100, 4, -100]], "word_starts": [[1], [2]]},
    ]
    batch = collate(features, pad_id=1)
    assert batch["input_ids"].tolist() == [[0, 5, 6, 2], [0, 7, 2, 1], [0, 8, 9, 2]]  # to the longest, not to 256
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, 1, -100, -100], [-100, 3, -100, -100], [-100, -100, 4, -100]]
    assert batch["word_mask"].tolist() == [[False, True, False, False], [False, True, False, False], [False, False, True, False]]
    assert batch["sentence"].tolist() == [0, 1, 1]
    assert collate(features, pad_id=1, pad_to_multiple_of=8)["input_ids"].shape == (3, 8)


def test_no_weight_decay_on_bias_and_layernorm_and_a_crf_group_of_its_own():
    from transformers import RobertaConfig, RobertaForTokenClassification

    from vietner.modeling import NerModel

    encoder = RobertaForTokenClassification(RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=3))
    model = NerModel(encoder, "crf")
    decay, no_decay, crf = optimizer_groups(model, TrainConfig(weight_decay=0.01, lr=5e-5, crf_lr=5e-3))
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all("bias" in names[id(p)] or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert all("bias" not in names[id(p)] and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert {names[id(p)] for p in crf["params"]} == {"crf.start_transitions", "crf.end_transitions", "crf.transitions"}
    assert crf["lr"] == 5e-3 and crf["weight_decay"] == 0.0
    assert len(decay["params"]) + len(no_decay["params"]) + len(crf["params"]) == len(list(model.parameters()))


def test_load_splits_rejects_an_empty_split(tmp_path, corpus):
    empty = tmp_path / "empty.conll"
    empty.write_text("")
    data = load_config(None, [f"data.train_file={corpus['train']}", f"data.dev_file={empty}", f"data.test_file={corpus['test']}"]).data
    with pytest.raises(DataError, match="dev split is empty"):
        load_splits(data)


# ------------------------------------------------------------------------------------------------------
# The same data in other forms, other label sets, Ctrl-C, permissions.


def test_nfd_bom_and_crlf_copies_train_exactly_as_the_nfc_file(corpus, tmp_path):
    import unicodedata

    from vietner.config import ScratchConfig
    from vietner.modeling import scratch_tokenizer

    text = Path(corpus["train"]).read_text(encoding="utf-8")
    copies = {
        "nfc": text,
        "nfd": unicodedata.normalize("NFD", text),
        "bom": "\ufeff" + text,
        "crlf": text.replace("\n", "\r\n"),
        "all": "\ufeff" + unicodedata.normalize("NFD", text).replace("\n", "\r\n"),
    }
    encoded = {}
    tokenizer = None
    for name, content in copies.items():
        path = tmp_path / f"{name}.conll"
        path.write_bytes(content.encode("utf-8"))
        data = load_config(None, [f"data.train_file={path}", f"data.dev_file={corpus['dev']}", f"data.test_file={corpus['test']}"]).data
        splits = load_splits(data)
        preprocessor = Preprocessor(None, data)
        words = train_words(splits["train"], preprocessor)
        strings = [w for t, s in zip(splits["train"]["tokens"], words) for w in preprocessor.word_strings(t, s)]
        tokenizer = tokenizer or scratch_tokenizer(strings, tmp_path / "tok", ScratchConfig(bpe_vocab_size=300))
        preprocessor.tokenizer = tokenizer
        encoded[name] = (strings, encode_train(splits["train"], words, preprocessor, labels_for(training_types(splits))).to_dict())
    for name in copies:
        assert encoded[name] == encoded["nfc"], name  # same words, same subwords, same tags


def test_other_label_set_without_text_lines_scores_the_same_in_evaluate(train_main, tmp_path, capsys):
    # A PhoNER-style corpus: space-separated, other types, no "# text": evaluate.py scores it on its own
    # tokens, as train.py does, and every table lists its types.
    rng = random.Random(3)
    fillers = {"NAME": PERSONS, "LOCATION": PLACES, "ORGANIZATION": ORGS, "AGE": ["45 tuổi", "30 tuổi"], "JOB": ["bác sĩ", "kỹ sư"]}
    templates = ["{NAME} , {AGE} , là {JOB} ở {LOCATION} .", "{NAME} làm việc tại {ORGANIZATION} ở {LOCATION} ."]
    files = {}
    for split, size in (("train", 40), ("dev", 10), ("test", 10)):
        blocks = []
        for _ in range(size):
            lines = []
            for part in rng.choice(templates).split():
                if part.startswith("{"):
                    words = rng.choice(fillers[part[1:-1]]).split()
                    lines += [f"{w} {'B' if i == 0 else 'I'}-{part[1:-1]}" for i, w in enumerate(words)]
                else:
                    lines.append(f"{part} O")
            blocks.append("\n".join(lines))
        files[split] = tmp_path / f"{split}.txt"
        files[split].write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert train_main(tiny_args(files, out, "train.epochs=3", "train.lr=1e-2")) == 0
    from vietner.cli.evaluate import main as evaluate_main

    capsys.readouterr()
    report = tmp_path / "report.json"
    assert evaluate_main(["--model", str(out / "model"), "--data", str(files["test"]), "--output", str(report), "--bootstrap", "20"]) == 0
    printed = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    evaluated = json.loads(report.read_text())
    for mode in ("strict", "default"):
        assert round(evaluated[mode]["overall"]["f1"], 4) == round(metrics["test"][mode]["overall"]["f1"], 4)
    markdown = (tmp_path / "report.md").read_text()
    for kind in fillers:
        assert kind in printed.out and kind in markdown
        assert kind in evaluated["comparison"]["model"]["report"]["per_type"]


def test_ctrl_c_during_training_is_one_line_and_resumable(train_main, tmp_path, capsys):
    files = write_corpus(tmp_path, long_clauses=0)
    out = tmp_path / "run"
    # An epoch of this model takes about 0.1 s: with 4 epochs the run once ended before the signal arrived on
    # a loaded machine, so 60 leave the signal several seconds to land.
    epochs = 60
    args = tiny_args(files, out, "data.segmenter=none", f"train.epochs={epochs}", "train.score_train_split=false")
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    for line in process.stdout:  # interrupt once epoch 2 has been scored, around its checkpoint
        if line.startswith("epoch 2:"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if line.strip() and "\r" not in line]
    assert f"all {epochs} epochs done" not in stdout, "the run ended before the interrupt arrived"
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    match = re.fullmatch(r"interrupted after epoch (\d+); continue with --resume", lines[-1])
    assert match, lines[-1]
    state = json.loads((out / "checkpoints" / "last" / "trainer_state.json").read_text())
    assert state["epoch"] == int(match.group(1)) >= 1  # the message names the epoch the checkpoint holds
    assert train_main(args + ["--resume"]) == 0, capsys.readouterr().err[-2000:]
    assert [e["epoch"] for e in json.loads((out / "metrics.json").read_text())["epochs"]] == list(range(1, epochs + 1))


KILL_SECOND_RENAME = """
import os, sys
from pathlib import Path
from vietner.modeling import load_model_dir, save_model_dir
calls = []
_replace = os.replace
def replace(src, dst, *a, **k):
    calls.append(dst)
    if len(calls) == 2:  # the old model is aside, the new one not yet in place: the worst instant
        os._exit(9)
    return _replace(src, dst, *a, **k)
os.replace = replace
model_dir = Path(sys.argv[1])
loaded = load_model_dir(model_dir)
save_model_dir(model_dir, loaded.model, loaded.tokenizer, loaded.settings)
"""


def test_a_save_killed_between_its_renames_is_recovered_by_the_next_run(train_main, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    settings = ("data.segmenter=none", "train.epochs=2", "train.score_train_split=false", "train.select_on=last")
    assert train_main(tiny_args(corpus, out, *settings) + ["--stop-after-epoch", "1"]) == 0
    before = (out / "model" / "model.safetensors").read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILL_SECOND_RENAME, str(out / "model")], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr[-2000:]
    assert not (out / "model").exists() and (out / ".model.old").is_dir()  # neither name: what a kill can leave
    assert train_main(tiny_args(corpus, out, *settings) + ["--resume"]) == 0
    assert "recovered" in capsys.readouterr().out
    assert not (out / ".model.old").exists()
    assert (out / "model" / "model.safetensors").read_bytes() != before  # the run went on and saved epoch 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["test"] is not None


# ------------------------------------------------------------------------------------------------------
# Public corpora with other label sets, pooled into the training split; two-stage training.

# PhoNER_COVID19's ten types; only NAME, LOCATION, ORGANIZATION and DATE have a counterpart in ours.
PHONER_FILLERS = {
    "NAME": PERSONS, "LOCATION": PLACES, "ORGANIZATION": ORGS, "DATE": DATES, "AGE": ["45 tuổi", "30"],
    "JOB": ["bác sĩ", "kỹ sư"], "GENDER": ["nam", "nữ"], "PATIENT_ID": ["BN91", "BN 100"],
    "SYMPTOM_AND_DISEASE": ["sốt", "ho khan"], "TRANSPORTATION": ["VN0054", "xe buýt"],
}
PHONER_TEMPLATES = [
    "{PATIENT_ID} , {GENDER} , {AGE} , là {JOB} ở {LOCATION} .",
    "{NAME} đi {TRANSPORTATION} đến {LOCATION} vào {DATE} .",
    "{NAME} làm việc tại {ORGANIZATION} , bị {SYMPTOM_AND_DISEASE} .",
]
VLSP_FILLERS = {"PER": PERSONS, "LOC": PLACES, "ORG": ORGS, "MISC": ["tiếng Việt", "COVID-19"]}
# Two persons side by side: in IOB1 the second opens with B-, the only B- the file has.
VLSP_TEMPLATES = ["{PER} {PER} nói {MISC} ở {LOC} .", "{ORG} ở {LOC} dùng {MISC} ."]
PHONER_MAP = {"NAME": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG", "DATE": "DATE"}
VLSP_MAP = {"PER": "PER", "ORG": "ORG", "LOC": "LOC"}


def public_sentences(seed: int, templates: list[str], fillers: dict, size: int) -> list[list[tuple[str, str]]]:
    """Sentences of (token, IOB2 tag) pairs filled from ``fillers``."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(size):
        pairs = []
        for part in rng.choice(templates).split():
            kind = part[1:-1] if part.startswith("{") else None
            words = rng.choice(fillers[kind]).split() if kind else [part]
            pairs += [(w, "O" if kind is None else f"{'B' if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]
        sentences.append(pairs)
    return sentences


def write_phoner(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """PhoNER_COVID19's layout: ``token TAG`` separated by a space; no newline after the last line."""
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences), encoding="utf-8")
    return path


def write_vlsp(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """VLSP 2016's layout: ``token POS chunk TAG`` in IOB1 (an entity opens with I- unless it touches one of
    its type)."""
    blocks = []
    for s in sentences:
        tags = [t if t.startswith("B-") and i and s[i - 1][1][2:] == t[2:] else "I-" + t[2:] if t != "O" else t
                for i, (_, t) in enumerate(s)]
        blocks.append("\n".join(f"{w}\tN\tB-NP\t{t}" for (w, _), t in zip(s, tags)))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def mapped_counts(sentences: list[list[tuple[str, str]]], label_map: dict[str, str]) -> Counter:
    """Entities per type after ``label_map``, counted from the generator's own tags."""
    return Counter(label_map[t[2:]] for s in sentences for _, t in s if t.startswith("B-") and t[2:] in label_map)


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """A PhoNER-style train/dev/test and a VLSP-style file, with the sentences they hold."""
    directory = tmp_path_factory.mktemp("public")
    phoner = {split: public_sentences(seed, PHONER_TEMPLATES, PHONER_FILLERS, size)
              for seed, (split, size) in enumerate((("train", 40), ("dev", 12), ("test", 12)))}
    vlsp = public_sentences(7, VLSP_TEMPLATES, VLSP_FILLERS, 30)
    files = {split: write_phoner(directory / f"{split}_syllable.conll", s) for split, s in phoner.items()}
    files["vlsp"] = write_vlsp(directory / "vlsp.conll", vlsp)
    return files, {**phoner, "vlsp": vlsp}


def pooled_config(corpus: dict[str, Path], public_files: dict[str, Path], *extra: str):
    sources = (f"[{{path: '{public_files['train']}', label_map: {PHONER_MAP}}}, "
               f"{{path: '{public_files['vlsp']}', scheme: IOB1, label_map: {VLSP_MAP}}}]")
    return load_config(None, [f"data.{split}_file={corpus[split]}" for split in ("train", "dev", "test")]
                       + [f"data.extra_train={sources}", *extra])


def test_extra_sources_are_pooled_into_train_with_their_label_maps_and_counted(corpus, public, capsys):
    from vietner.sources import format_sources, source_counts

    files, sentences = public
    config = pooled_config(corpus, files)
    splits = load_splits(config.data)
    own = load_conll(corpus["train"])
    # Sentences, never text: the PhoNER file ends without a newline and still gives each its own sentence.
    assert splits["train"]["source"] == [0] * len(own) + [1] * 40 + [2] * 30
    assert splits["train"]["tokens"][len(own)] == [w for w, _ in sentences["train"][0]]
    assert splits["dev"]["tags"] == load_conll(corpus["dev"])["tags"]
    pooled_types = {t[2:] for tags in splits["train"]["tags"] for t in tags if t != "O"}
    assert pooled_types == set(FILLERS)  # AGE, JOB, ..., MISC became O
    rows = source_counts(splits, config.data)
    assert [(r["split"], r["source"], r["sentences"]) for r in rows] == [
        ("train", "data.train_file", len(own)), ("train", "data.extra_train[0]", 40), ("train", "data.extra_train[1]", 30),
        ("dev", "data.dev_file", len(load_conll(corpus["dev"]))), ("test", "data.test_file", len(load_conll(corpus["test"]))),
    ]
    assert rows[1]["by_type"] == dict(mapped_counts(sentences["train"], PHONER_MAP)) and rows[1]["path"] == str(files["train"])
    # IOB1: the two persons side by side stay two, as the IOB2 the file was made from says.
    assert rows[2]["by_type"] == dict(mapped_counts(sentences["vlsp"], VLSP_MAP))
    assert rows[2]["entities"] == sum(mapped_counts(sentences["vlsp"], VLSP_MAP).values())
    assert f"data.extra_train[1] {files['vlsp']}: 30 sentences" in format_sources(rows)
    assert capsys.readouterr().err == ""  # every map key occurs and every target type is ours: no warnings


def test_label_map_keys_that_never_occur_and_types_we_lack_are_one_line_warnings(corpus, public, capsys):
    files, _ = public
    sources = (f"[{{path: '{files['train']}', label_map: {{NAME: PER, PATIENT: ORG, JOB: JOB}}}}, "
               f"{{path: '{files['vlsp']}', scheme: IOB1}}]")
    load_splits(load_config(None, [f"data.{split}_file={corpus[split]}" for split in ("train", "dev", "test")]
                            + [f"data.extra_train={sources}"]).data)
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 3 and all(line.startswith("warning: ") for line in warnings)
    assert f"{files['train']}: label map key 'PATIENT' never occurs" in warnings[0]
    assert "data.extra_train[0]: type(s) JOB occur nowhere in the train/dev/test data" in warnings[1]
    assert "data.extra_train[1]: type(s) MISC occur nowhere" in warnings[2]  # no map: every type it has


def test_an_unreadable_extra_source_is_one_line_naming_it(train_main, corpus, tmp_path, capsys):
    missing = tmp_path / "nope.conll"
    assert train_main(tiny_args(corpus, tmp_path / "run", f"data.extra_train=[{{path: '{missing}'}}]")) == 2
    line = one_line_error(capsys)
    assert "data.extra_train[0]" in line and str(missing) in line
    bad = tmp_path / "bad.conll"
    bad.write_text("Hà B-LOC\nNội I-LOC\nđẹp\n", encoding="utf-8")
    assert train_main(tiny_args(corpus, tmp_path / "run", f"data.extra_train=[{{path: '{bad}'}}]")) == 2
    assert f"{bad}:3:" in one_line_error(capsys)


def test_label_map_on_public_splits_scores_the_same_in_train_and_evaluate(train_main, public, tmp_path, capsys):
    # Train, dev and test are PhoNER-style with data.label_map; VLSP-style sentences are pooled in. The test
    # F1 train.py reports is the one evaluate.py --label-map gives on the raw 10-type test file.
    files, sentences = public
    out = tmp_path / "run"
    label_map = ",".join(f"{k}={v}" for k, v in PHONER_MAP.items())
    extra = f"data.extra_train=[{{path: '{files['vlsp']}', scheme: IOB1, label_map: {VLSP_MAP}}}]"
    assert train_main(tiny_args(files, out, f"data.label_map={label_map}", extra, "train.epochs=2", "train.lr=1e-2")) == 0
    printed = capsys.readouterr().out
    assert f"train <- data.extra_train[0] {files['vlsp']}: 30 sentences" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == ["O"] + [f"{p}-{t}" for t in ("DATE", "LOC", "ORG", "PER") for p in "BI"]
    sources = {(row["split"], row["source"]): row for row in metrics["sources"]}
    assert sources["train", "data.train_file"]["by_type"] == dict(mapped_counts(sentences["train"], PHONER_MAP))
    assert sources["test", "data.test_file"]["entities"] == sum(mapped_counts(sentences["test"], PHONER_MAP).values())
    assert metrics["test"]["strict"]["overall"]["support"] == sources["test", "data.test_file"]["entities"]
    from vietner.cli.evaluate import main as evaluate_main

    report = tmp_path / "report.json"
    assert evaluate_main(["--model", str(out / "model"), "--data", str(files["test"]), "--label-map", label_map,
                          "--output", str(report), "--bootstrap", "20", "--baselines"]) == 0
    evaluated = json.loads(report.read_text())
    for mode in ("strict", "default"):
        assert evaluated[mode]["overall"]["support"] == metrics["test"][mode]["overall"]["support"]
        assert round(evaluated[mode]["overall"]["f1"], 4) == round(metrics["test"][mode]["overall"]["f1"], 4)
    assert "AGE" not in json.dumps(evaluated["comparison"])  # unmapped types are O in the gold too


def stage_one_model(directory: Path, corpus: dict[str, Path], labels: list[str], head: str):
    """A stage-1 model directory as train.py writes one (random init: only its rows matter here)."""
    import transformers

    from vietner.config import ModelConfig, Preprocessing, ScratchConfig
    from vietner.modeling import ModelSettings, build_model, save_model_dir, scratch_tokenizer

    transformers.set_seed(1)
    words = [w for tokens in load_conll(corpus["train"])["tokens"] for w in tokens]
    tokenizer = scratch_tokenizer(words, directory / "tok", ScratchConfig(bpe_vocab_size=300))
    scratch = ScratchConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    model = build_model(ModelConfig(name_or_path=None, head=head, scratch=scratch), labels, tokenizer, 64)
    preprocessing = Preprocessing(segmenter="none", max_length=64, window_overlap=16, normalize_tones=False)
    save_model_dir(directory / "model", model, tokenizer, ModelSettings(labels, preprocessing, head))
    return directory / "model"


STAGE_ONE_LABELS = ["O", "B-AGE", "I-AGE", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_two_stage_run_keeps_the_rows_of_shared_labels_and_the_base_model_s_preprocessing(train_main, corpus, tmp_path, capsys):
    from safetensors.torch import load_file

    base = stage_one_model(tmp_path / "stage1", corpus, STAGE_ONE_LABELS, "crf")
    config = tmp_path / "stage2.yaml"
    # No segmenter, normalization or head: they come from the base model; max_length is set and differs.
    config.write_text(
        f"# python train.py --config {config}\nmodel:\n  name_or_path: {base}\ndata:\n"
        + "".join(f"  {split}_file: {corpus[split]}\n" for split in ("train", "dev", "test"))
        + "  max_length: 48\n  window_overlap: 8\ntrain:\n  epochs: 1\n  max_steps: 1\n  batch_size: 8\n"
        "  lr: 1.0e-12\n  crf_lr: 1.0e-12\n  mixed_precision: \"no\"\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    assert train_main(["--config", str(config), "--set", f"output_dir={out}"]) == 0
    err = capsys.readouterr().err
    assert f"warning: data.max_length is 48 but the base model {base} was trained with 64" in err
    resolved = load_config(out / "config.yaml")
    assert (resolved.data.segmenter, resolved.data.normalize_tones, resolved.model.head) == ("none", False, "crf")
    saved = json.loads((out / "model" / "vietner.json").read_text())
    assert saved["preprocessing"]["segmenter"] == "none" and saved["head"] == "crf"
    labels = saved["labels"]
    assert labels == ["O"] + [f"{p}-{t}" for t in sorted(FILLERS) for p in "BI"]
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model" / "model.safetensors"))
    weight, new_weight = before["classifier.weight"], after["classifier.weight"]
    assert new_weight.shape == (len(labels), weight.shape[1])
    for label in ("O", "B-PER", "I-PER", "B-LOC", "I-LOC"):  # rows moved to their new places, unchanged
        assert torch.allclose(new_weight[labels.index(label)], weight[STAGE_ONE_LABELS.index(label)], atol=1e-6), label
    for label in ("B-ORG", "B-MONEY", "B-DATE"):  # new rows, not any old row
        assert not any(torch.allclose(new_weight[labels.index(label)], row, atol=1e-3) for row in weight), label
    crf_before, crf_after = load_file(str(base / "crf.safetensors")), load_file(str(out / "model" / "crf.safetensors"))
    old, new = STAGE_ONE_LABELS.index("B-PER"), labels.index("B-PER")
    assert torch.allclose(crf_after["transitions"][new, labels.index("I-PER")], crf_before["transitions"][old, STAGE_ONE_LABELS.index("I-PER")], atol=1e-6)
    assert torch.allclose(crf_after["start_transitions"][new], crf_before["start_transitions"][old], atol=1e-6)


def test_learned_vocabulary_spells_tones_as_phobert_does(tmp_path):
    # Trained with tone normalization (the default), the scratch vocabulary holds "Thành_uỷ", as PhoBERT's
    # does, and no new-placement "ủy"/"òa" spelling, though the corpus writes "Thành ủy" and "Hòa Lạc".
    from vietner.config import ScratchConfig
    from vietner.modeling import learn_bpe

    data = load_config(ROOT / "configs" / "tiny.yaml").data
    data.dir, data.splits = str(ROOT / "data" / "annotated"), str(ROOT / "data" / "splits.json")
    splits = load_splits(data)
    assert any("ủy" in token for tokens in splits["train"]["tokens"] for token in tokens)
    preprocessor = Preprocessor(None, data)
    words = train_words(splits["train"], preprocessor)
    strings = [w for t, s in zip(splits["train"]["tokens"], words) for w in preprocessor.word_strings(t, s)]
    _, vocab = learn_bpe(strings, ScratchConfig().bpe_vocab_size, ScratchConfig().bpe_min_frequency)
    pieces = [line.split()[0] for line in vocab]
    assert "Thành_uỷ" in pieces
    assert not [p for p in pieces if any(old in p.lower() for old in ("ủy", "òa", "óa", "ỏa", "õa", "ọa", "ỏe", "òe"))]
