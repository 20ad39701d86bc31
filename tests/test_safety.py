"""Nothing lost, nothing silently wrong: --overwrite that cannot destroy, one writer per run, resumes that
check what they resume, faults of the machine, and bad values as one line.

The data-loss cases run train.py in a temporary copy of the repository tree (data/, configs/ and a fake
.git), as a user's clone would be, on the project corpus with the tiny config cut to one epoch.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SMALL = [
    "model.scratch.hidden_size=32", "model.scratch.num_hidden_layers=1", "model.scratch.intermediate_size=64",
    "train.epochs=1", "train.batch_size=8", "train.score_train_split=false", "data.segmenter=none",
]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith("error: "), err[-3000:]
    return lines[-1]


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes: what must survive a refused or failed run."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _train(args: list[str]) -> int:
    """train.py's main() in this process, with accelerate's process-wide state reset around it."""
    from accelerate.state import AcceleratorState, GradientState

    from training_fixtures import load_train_module

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    try:
        return load_train_module().main(["--config", "configs/tiny.yaml", *[a for s in SMALL for a in ("--set", s)], *args])
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


@pytest.fixture
def train_main():
    return lambda *args: _train(list(args))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished one-epoch run of the project corpus, made once; tests copy it."""
    root = make_repo(tmp_path_factory.mktemp("trained"))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert _train(["--set", "output_dir=outputs/run1"]) == 0
    finally:
        os.chdir(cwd)
    return root / "outputs" / "run1"


def make_repo(root: Path) -> Path:
    """A copy of the repository's data/ and configs/ with a fake .git: a user's clone."""
    shutil.copytree(ROOT / "data", root / "data")
    shutil.copytree(ROOT / "configs", root / "configs")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "README.md").write_text("my clone\n")
    return root


@pytest.fixture
def repo(tmp_path, monkeypatch, trained_run):
    """A fresh clone in ``tmp_path`` (the current directory) holding a copy of the trained run in outputs/run1."""
    make_repo(tmp_path)
    shutil.copytree(trained_run, tmp_path / "outputs" / "run1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- 1. --overwrite that cannot destroy ------------------------------------------------------------------


def test_overwrite_with_a_typo_in_a_data_path_keeps_the_previous_run(train_main, repo, capsys):
    before = tree(repo / "outputs" / "run1")
    assert train_main("--set", "output_dir=outputs/run1", "--set", "data.splits=data/splits.jsno", "--overwrite") == 2
    assert "splits.jsno" in one_line_error(capsys)
    assert tree(repo / "outputs" / "run1") == before
    assert not list((repo / "outputs").glob(".run1.*"))  # no staging or lock left behind


def test_overwrite_refuses_the_gold_corpus_folder(train_main, repo, capsys):
    before = tree(repo / "data")
    assert train_main("--set", "output_dir=data", "--overwrite") == 2
    assert "data.dir" in one_line_error(capsys)
    assert tree(repo / "data") == before


def test_overwrite_refuses_a_folder_that_is_not_a_run(train_main, repo, capsys):
    (repo / "notes").mkdir()
    (repo / "notes" / "thesis.txt").write_text("years of work")
    assert train_main("--set", "output_dir=notes", "--overwrite") == 2
    assert "not a vietner training run" in one_line_error(capsys)
    assert (repo / "notes" / "thesis.txt").read_text() == "years of work"


@pytest.mark.parametrize("output_dir", [".", ".."])
def test_overwrite_refuses_the_current_directory_and_its_ancestors(train_main, repo, capsys, output_dir):
    before = tree(repo)
    assert train_main("--set", f"output_dir={output_dir}", "--overwrite") == 2
    assert "current directory" in one_line_error(capsys)
    assert tree(repo) == before and (repo / ".git" / "HEAD").is_file()


def test_stage_two_refuses_to_overwrite_the_run_holding_its_base_model(train_main, repo, capsys):
    before = tree(repo / "outputs" / "run1")
    args = ("--set", "model.name_or_path=outputs/run1/model", "--set", "output_dir=outputs/run1", "--overwrite")
    assert train_main(*args) == 2
    assert "model.name_or_path" in one_line_error(capsys)
    assert tree(repo / "outputs" / "run1") == before


def test_overwrite_replaces_a_run_only_when_the_new_one_succeeded(train_main, repo, capsys):
    run = repo / "outputs" / "run1"
    old_log = (run / "log.jsonl").read_text()
    assert train_main("--set", "output_dir=outputs/run1", "--set", "train.seed=7", "--overwrite") == 0
    assert "outputs/run1/model" in capsys.readouterr().out  # the summary names the final place
    assert (run / "log.jsonl").read_text() != old_log
    assert (run / "vietner-run.json").is_file() and (run / "model" / "vietner.json").is_file()
    assert sorted(p.name for p in (repo / "outputs").iterdir()) == ["run1"]  # no staging, backup or lock left


def test_a_failed_fresh_run_leaves_nothing_and_a_config_error_writes_nothing(train_main, repo, capsys):
    assert train_main("--set", "output_dir=outputs/new", "--set", "data.dir=data/nope") == 2
    one_line_error(capsys)
    assert not (repo / "outputs" / "new").exists()
    assert train_main("--set", "output_dir=outputs/new", "--set", "train.lr=nan") == 2
    assert "train.lr" in one_line_error(capsys)
    assert not (repo / "outputs" / "new").exists()


# ---- 2. One writer per run directory ----------------------------------------------------------------------


def test_a_second_writer_gets_one_line_naming_the_holder_and_touches_nothing(train_main, repo, capsys):
    from vietner.storage import LockedError, WriterLock

    run = repo / "outputs" / "run1"
    leftover = run / "checkpoints" / ".last.tmp-save"  # the first run's checkpoint being written
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"half written")
    with WriterLock(run):
        assert train_main("--set", "output_dir=outputs/run1", "--resume") == 2
        assert f"pid {os.getpid()}" in one_line_error(capsys)
        assert (leftover / "model.safetensors").read_bytes() == b"half written"
        with pytest.raises(LockedError):
            WriterLock(run).acquire()


def test_a_stale_lock_of_a_dead_process_is_taken_over(train_main, repo, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (repo / "outputs" / ".run1.lock").write_text(dead.stdout)
    assert train_main("--set", "output_dir=outputs/run1", "--set", "train.seed=3", "--overwrite") == 0
    assert not (repo / "outputs" / ".run1.lock").exists()


# ---- 3. Resumes that check what they resume ------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name, damage",
    [
        ("config.yaml", Path.unlink),
        ("checkpoints/last/trainer_state.json", _truncate),
        ("checkpoints/last/model.safetensors", _truncate),
        ("checkpoints/last/optimizer.bin", _truncate),
        ("checkpoints/last/scheduler.bin", Path.unlink),
        ("checkpoints/last/random_states_0.pkl", _truncate),
        ("checkpoints/last/random_states_0.pkl", _tamper),
    ],
)
def test_resume_from_a_damaged_checkpoint_is_one_line_naming_the_file(train_main, repo, capsys, name, damage):
    run = repo / "outputs" / "run1"
    damage(run / name)
    before = tree(run)
    assert train_main("--set", "output_dir=outputs/run1", "--resume") == 2
    assert name in one_line_error(capsys)
    assert tree(run) == before


def test_a_moved_run_resumes_with_a_note(train_main, repo, capsys):
    shutil.move(repo / "outputs" / "run1", repo / "drive")
    assert train_main("--set", "output_dir=drive", "--set", "train.epochs=2", "--resume") == 2  # epochs changed
    capsys.readouterr()
    assert train_main("--set", "output_dir=drive", "--resume") == 0
    out = capsys.readouterr().out
    assert "a run started in outputs/run1 (moved)" in out
    assert json.loads((repo / "drive" / "metrics.json").read_text())["test"] is not None


# ---- 7. Faults of the machine -----------------------------------------------------------------------------


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_a_read_only_output_is_one_line_before_the_first_epoch(train_main, repo, capsys, monkeypatch):
    # Root ignores file modes, so read-only is injected: every open for writing under outputs/ fails as a
    # read-only mount's would.
    real_open, outputs = os.open, str(repo / "outputs")

    def read_only_open(path, flags, *args, **kwargs):
        if os.path.abspath(path).startswith(outputs) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and not str(path).endswith(".lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    before = tree(repo / "outputs" / "run1")
    assert train_main("--set", "output_dir=outputs/run1", "--set", "train.seed=5", "--overwrite") == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err and "epoch 1" not in captured.out
    assert lines[-1].startswith("error: ") and "outputs/.run1.tmp-overwrite" in lines[-1] and "Read-only" in lines[-1]
    monkeypatch.undo()
    assert tree(repo / "outputs" / "run1") == before


def test_a_disk_that_fills_during_the_run_is_one_line_naming_the_file_and_the_old_run_stays(train_main, repo, capsys, monkeypatch):
    real_fsync = os.fsync

    def full_fsync(fd):
        if ".last.tmp-save" in _fd_path(fd):  # the first checkpoint does not fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_fsync)
    before = tree(repo / "outputs" / "run1")
    assert train_main("--set", "output_dir=outputs/run1", "--set", "train.seed=5", "--overwrite") == 2
    line = one_line_error(capsys)
    assert "No space left on device" in line and ".last.tmp-save/" in line
    monkeypatch.undo()
    assert tree(repo / "outputs" / "run1") == before
    assert sorted(p.name for p in (repo / "outputs").iterdir()) == ["run1"]


# ---- vietner.predict: a resumed run checks its model; one writer; outputs that cannot be forged ----------


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Two tiny model directories of the same shape and vocabulary, with different weights."""
    from tagger_fixtures import SYLLABLES, random_model, save_model_dir, write_tokenizer

    tokenizer = write_tokenizer(SYLLABLES + ["Hà_Nội", "Việt_Nam"], tmp_path_factory.mktemp("tokenizer"))
    return [save_model_dir(tmp_path_factory.mktemp(f"model{seed}"), random_model(tokenizer, seed=seed), tokenizer) for seed in (0, 1)]


DOCUMENTS = ["Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.", "Ông Nguyễn Văn An đến Hàn Quốc.", "Việt Nam"] * 2


def _interrupted_predict(tmp_path: Path, model: Path, monkeypatch) -> tuple[list[str], Path]:
    """Run vietner.predict until every part is written, then interrupt it before the merge."""
    import vietner.cli.documents
    from vietner.cli.predict import main

    source = tmp_path / "in.txt"
    source.write_text("".join(d + "\n" for d in DOCUMENTS), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    common = ["--input", str(source), "--output", str(output), "--part-size", "2", "--workers", "0", "--quiet"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(vietner.cli.documents, "merge_parts", interrupted)
        assert main(["--model", str(model), *common]) == 130
    assert len(list((tmp_path / "out.jsonl.parts").glob("part-*"))) == 3
    return common, output


def test_predict_resume_refuses_a_model_whose_files_changed(tmp_path, model_dirs, monkeypatch, capsys):
    from vietner.cli.predict import main

    model = tmp_path / "model"
    shutil.copytree(model_dirs[0], model)
    common, output = _interrupted_predict(tmp_path, model, monkeypatch)
    shutil.rmtree(model)
    shutil.copytree(model_dirs[1], model)  # retrained in place: same path, other weights
    capsys.readouterr()
    assert main(["--model", str(model), *common, "--resume"]) == 2
    line = one_line_error(capsys)
    assert "another model" in line and "model.safetensors" in line
    assert not output.exists()
    shutil.rmtree(model)
    shutil.copytree(model_dirs[0], model)  # the same files again (a copy, other mtimes): resumes
    assert main(["--model", str(model), *common, "--resume"]) == 0


def test_predict_second_writer_is_one_line_naming_the_holder(tmp_path, model_dirs, capsys):
    from vietner.cli.predict import main
    from vietner.storage import WriterLock

    source = tmp_path / "in.txt"
    source.write_text("Hà Nội\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.parts").mkdir()
    (tmp_path / "out.jsonl.parts" / ".part-00000000.jsonl.tmp-abc").write_text("being written")
    with WriterLock(output):
        assert main(["--model", str(model_dirs[0]), "--input", str(source), "--output", str(output), "--resume", "--quiet"]) == 2
        assert f"pid {os.getpid()}" in one_line_error(capsys)
    assert (tmp_path / "out.jsonl.parts" / ".part-00000000.jsonl.tmp-abc").read_text() == "being written"


def test_predict_overwrite_onto_a_directory_fails_before_the_work(tmp_path, model_dirs, capsys, monkeypatch):
    import vietner.tagger
    from vietner.cli.predict import main

    source = tmp_path / "in.txt"
    source.write_text("Hà Nội\n", encoding="utf-8")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("kept")
    monkeypatch.setattr(vietner.tagger.NerTagger, "from_pretrained", None)  # any work would fail loudly
    assert main(["--model", str(model_dirs[0]), "--input", str(source), "--output", str(tmp_path / "results"), "--overwrite", "--quiet"]) == 2
    assert "is a directory" in one_line_error(capsys)
    assert (tmp_path / "results" / "keep.txt").read_text() == "kept"


def test_conll_output_cannot_be_forged_by_an_id(tmp_path, model_dirs):
    from vietner.corpus import read_conll
    from vietner.cli.predict import main

    source = tmp_path / "in.jsonl"
    forged = "doc1\n# sent_id = forged\nFAKE\tB-PER"
    rows = [{"id": forged, "text": "Hà Nội và Việt Nam."}, {"id": "tab\there", "text": "Ông An."}]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    output = tmp_path / "out.conll"
    assert main(["--model", str(model_dirs[0]), "--input", str(source), "--output", str(output), "--format", "conll", "--quiet"]) == 0
    sentences = read_conll(output)
    assert [s.sent_id for s in sentences] == ["doc1\\n# sent_id = forged\\nFAKE\\tB-PER-1", "tab\\there-1"]
    assert [len(s.tokens) for s in sentences] == [6, 3] and "FAKE" not in [t for s in sentences for t in s.tokens]
    assert all(line.count("\t") == 1 for line in output.read_text().splitlines() if line and not line.startswith("#"))


def test_an_io_error_names_the_file(tmp_path, model_dirs, capsys, monkeypatch):
    from vietner.cli.predict import main

    source = tmp_path / "in.txt"
    source.write_text("Hà Nội\n", encoding="utf-8")
    real_fsync = os.fsync

    def failing_fsync(fd):
        if _fd_path(fd).endswith(".jsonl") or ".out.jsonl.tmp-" in _fd_path(fd):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    assert main(["--model", str(model_dirs[0]), "--input", str(source), "--output", str(tmp_path / "out.jsonl"), "--quiet"]) == 2
    line = one_line_error(capsys)
    assert "Input/output error" in line and "out.jsonl" in line


# ---- 8. Malformed model files, exit status 2 everywhere ---------------------------------------------------


@pytest.mark.parametrize(
    "name, content",
    [
        ("vietner.json", b'{"labels": ["O", "B-PER"'),
        ("vietner.json", b'{"labels": ["O"], "preprocessing": {"segmenter": "foo"}}'),
        ("vietner.json", b'{"labels": ["O"], "preprocessing": {"max_length": -5}}'),
        ("config.json", b'{"model_type": "roberta",'),
        ("model.safetensors", None),  # truncated
    ],
)
def test_a_malformed_model_file_is_a_model_load_error_naming_it(tmp_path, model_dirs, name, content):
    from vietner import NerTagger
    from vietner.modeling import ModelLoadError

    model = tmp_path / "model"
    shutil.copytree(model_dirs[0], model)
    if content is None:
        _truncate(model / name)
    else:
        (model / name).write_bytes(content)
    with pytest.raises(ModelLoadError) as raised:
        NerTagger.from_pretrained(model)
    assert name in str(raised.value) and "\n" not in str(raised.value)


def test_evaluate_with_an_existing_output_fails_before_the_work(tmp_path, capsys, monkeypatch):
    import vietner.cli.evaluate as cli
    from vietner.storage import WriterLock

    predictions = tmp_path / "pred.conll"
    predictions.write_text("Hà\tB-LOC\tB-LOC\nNội\tI-LOC\tI-LOC\n", encoding="utf-8")
    (tmp_path / "report.md").write_text("an older report")  # written beside --output: exists
    monkeypatch.setattr(cli, "evaluate_tags", None)  # any scoring would fail loudly
    assert cli.main(["--predictions", str(predictions), "--output", str(tmp_path / "report.json")]) == 2
    assert "report.md: exists" in one_line_error(capsys)
    assert not (tmp_path / "report.json").exists()
    monkeypatch.undo()
    with WriterLock(tmp_path / "report.json"):
        assert cli.main(["--predictions", str(predictions), "--output", str(tmp_path / "report.json"), "--overwrite"]) == 2
        assert f"pid {os.getpid()}" in one_line_error(capsys)
    assert cli.main(["--predictions", str(predictions), "--output", str(tmp_path / "report.json"), "--overwrite"]) == 0


def test_the_corpus_command_exits_2_for_bad_input(tmp_path, capsys):
    from vietner.cli.data import main

    assert main(["import", str(tmp_path / "missing.txt"), str(tmp_path / "raw.txt"), str(tmp_path / "out.conll")]) == 2
    assert "missing.txt" in one_line_error(capsys)
    done = subprocess.run([sys.executable, "-m", "vietner.data", "export", str(tmp_path / "missing.conll")], capture_output=True, text=True)
    assert done.returncode == 2 and "missing.conll" in done.stderr and "Traceback" not in done.stderr


# ---- 6. Format characters (Unicode Cf): never part of a syllable, offsets exact -----------------------


CF_EXAMPLES = ["\u200e", "\u200f", "\u202e", "\u202c", "\u2066", "\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\U000e0041"]


@pytest.fixture(scope="module")
def lookup_tagger(tmp_path_factory):
    from tagger_fixtures import SYLLABLES, lookup_model, write_tokenizer

    from vietner import NerTagger
    from vietner.config import Preprocessing

    tokenizer = write_tokenizer(SYLLABLES, tmp_path_factory.mktemp("lookup"))
    labels = {"Hà": "B-LOC", "Nội": "I-LOC", "Đinh": "B-PER", "Tiến": "I-PER", "Dũng": "I-PER"}
    return NerTagger(lookup_model(tokenizer, labels), tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16))


@pytest.mark.parametrize("mark", CF_EXAMPLES, ids=[f"U+{ord(c):04X}" for c in CF_EXAMPLES])
def test_format_characters_are_never_part_of_a_syllable(lookup_tagger, mark):
    from vietner.text import FORMAT_CHARACTERS, tokenize

    clean = "Bí thư Hà Nội Đinh Tiến Dũng tiếp đoàn."
    expected = [(e.label, e.text) for e in lookup_tagger.predict(clean)]
    assert expected == [("LOC", "Hà Nội"), ("PER", "Đinh Tiến Dũng")]
    for text in (mark + "Hà Nội", "Bí thư " + mark + "Hà Nội" + mark + " Đinh Tiến" + mark + " Dũng tiếp đoàn."):
        entities = lookup_tagger.predict(text)
        assert all(text[e.start : e.end] == e.text for e in entities)  # offsets into the caller's string
        assert not any(e.text.startswith(mark) or e.text.endswith(mark) for e in entities)  # syllables only
        found = [(e.label, " ".join(e.text.replace(mark, " ").split())) for e in entities]
        assert found == (expected if len(text) > 10 else expected[:1])
        assert not any(ch in FORMAT_CHARACTERS for ch in "".join(s.text for s in tokenize(text)))
    assert mark in FORMAT_CHARACTERS


def test_format_characters_are_every_cf_character():
    import unicodedata

    from vietner.text import FORMAT_CHARACTERS

    assert set(FORMAT_CHARACTERS) == {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}


# ---- 4. Every config value range-checked, nothing left behind ---------------------------------------------


@pytest.mark.parametrize(
    "setting, allowed",
    [
        ("train.lr=nan", "finite"),
        ("train.crf_lr=inf", "finite"),
        ("model.scratch.intermediate_size=-1", "at least 1"),
        ("model.classifier_dropout=2", "[0, 1)"),
        ("train.num_workers=-1", "0 (the main process) or more"),
        ("train.seed=-1", "[0, 2^32)"),
        ("train.weight_decay=-0.1", "0 or more"),
        ("data.segmenter=foo", "one of none, underthesea"),
    ],
)
def test_a_value_out_of_range_is_one_line_and_leaves_nothing(train_main, repo, capsys, setting, allowed):
    assert train_main("--set", "output_dir=outputs/new", "--set", setting) == 2
    line = one_line_error(capsys)
    assert setting.split("=")[0] in line and allowed in line
    assert not (repo / "outputs" / "new").exists()
    assert sorted(p.name for p in (repo / "outputs").iterdir()) == ["run1"]


def test_a_full_disk_under_safetensors_is_an_os_error_naming_the_model_directory(tmp_path, model_dirs, monkeypatch):
    from safetensors import SafetensorError

    from vietner.modeling import load_model_dir, save_model_dir

    loaded = load_model_dir(model_dirs[0])

    def full(*args, **kwargs):  # what safetensors raises when the disk fills under it
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(loaded.model.encoder, "save_pretrained", full)
    with pytest.raises(OSError) as raised:
        save_model_dir(tmp_path / "model", loaded.model, loaded.tokenizer, loaded.settings)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "model")
    assert not list(tmp_path.iterdir())  # no temporary left


def test_the_segmenter_names_config_checks_are_the_registry_s():
    from vietner import segment
    from vietner.settings import SEGMENTER_NAMES

    assert SEGMENTER_NAMES == tuple(segment._SEGMENTERS)
