"""Streaming, worker processes, sharded and resumable runs of the predict CLI: the output never depends on them."""

import gc
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
import torch
from tagger_fixtures import SYLLABLES, random_model, save_model_dir, write_tokenizer
from test_predict import model_dir, tagger  # noqa: F401 - the fixtures: a tiny underthesea model and its tagger
from test_predict import write_text as write_lines
from training_fixtures import free_port

from vietner import NerTagger
from vietner.streaming import CHUNK_DOCUMENTS
from vietner.cli.predict import main

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "data" / "raw").glob("*.txt"))]
# Two real articles (one as a single line) mixed with awkward inputs: empty, NFD, a sentence of 500+
# subwords (several windows), emoji and scripts the vocabulary lacks.
MIXED = [
    ARTICLES[4].replace("\n", " "),
    "",
    unicodedata.normalize("NFD", ARTICLES[2][:800].replace("\n", " ")),
    "Seoul 😀😀 https://vnexpress.net/x.html 서울 🇻🇳",
    " ".join(SYLLABLES * 5),
    "   ",
    ARTICLES[2].replace("\n", " "),
]


# --------------------------------------------------------------------------------------------- the API


def test_workers_and_streaming_give_what_one_process_gives(tagger):
    expected = tagger.predict(MIXED, num_workers=0)
    assert sum(map(len, expected)) > 0
    # A generator in, two worker processes doing the preprocessing: the same entities, scores to the bit.
    assert list(tagger.stream((text for text in MIXED), num_workers=2)) == expected
    assert tagger.predict_tags(MIXED, num_workers=2) == tagger.predict_tags(MIXED, num_workers=0)


def test_stream_reads_its_input_lazily(tagger):
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield f"Ông Nguyễn Văn An đến Hà Nội {i}."

    results = tagger.stream(endless())
    first = list(itertools.islice(results, 10))
    assert len(first) == 10 and pulled <= CHUNK_DOCUMENTS  # one chunk read in-process, not the whole input
    list(itertools.islice(results, 500))
    assert pulled <= 510 + CHUNK_DOCUMENTS


def test_stream_and_options_reject_bad_input(tagger):
    with pytest.raises(TypeError, match="iterable"):
        tagger.stream("Hà Nội")
    with pytest.raises(ValueError, match="num_workers"):
        tagger.stream(["Hà Nội"], num_workers=-1)
    with pytest.raises(ValueError, match="max_tokens"):
        tagger.predict(["Hà Nội"], max_tokens=0)
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        list(tagger.stream(["Hà Nội", 3]))
    with pytest.raises(ValueError, match="fp16"):
        NerTagger(tagger.model, tagger.tokenizer, tagger.preprocessing, dtype="fp16")


def test_max_tokens_bounds_every_forward_pass(tagger, monkeypatch):
    shapes = []
    forward = tagger.model.encoder.forward

    def recording(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    monkeypatch.setattr(tagger.model.encoder, "forward", recording)
    unbounded = tagger.predict_tags(MIXED, batch_size=64)
    assert max(rows * width for rows, width in shapes) > 300
    shapes.clear()
    bounded = tagger.predict_tags(MIXED, batch_size=64, max_tokens=300)
    assert all(rows * width <= 300 or rows == 1 for rows, width in shapes), shapes
    assert [[s.tags for s in d] for d in bounded] == [[s.tags for s in d] for d in unbounded]


def test_bf16_autocast_runs_on_cpu(model_dir):
    tagger = NerTagger.from_pretrained(model_dir, dtype="bf16")
    seen = []
    tagger.model.encoder.register_forward_hook(lambda module, args, output: seen.append(output.logits.dtype))
    found = tagger.predict(MIXED[0])
    assert seen and set(seen) == {torch.bfloat16}
    assert all(MIXED[0][e.start : e.end] == e.text for e in found)


def test_rdrsegmenter_works_in_worker_processes(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("Java runtime not found: apt-get install default-jre-headless")
    tokenizer = write_tokenizer(SYLLABLES + ["Hà_Nội", "Việt_Nam"], tmp_path_factory.mktemp("tokenizer"))
    directory = save_model_dir(tmp_path_factory.mktemp("rdr"), random_model(tokenizer), tokenizer, segmenter="rdrsegmenter")
    tagger = NerTagger.from_pretrained(directory)
    texts = MIXED[2:5]
    # In-process first: the JVM starts here, and each spawned worker must start its own.
    expected = tagger.predict_tags(texts, num_workers=0)
    assert tagger.predict_tags(texts, num_workers=1) == expected


# ---------------------------------------------------------------------------------------------- the CLI


def launch_two_processes(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``accelerate launch`` of the predict CLI on 2 CPU processes, killed with its children on a hang."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        "-m", "vietner.predict", *arguments,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_workers_and_two_processes_write_the_same_bytes(tmp_path, model_dir, tagger):
    source = write_lines(tmp_path / "in.txt", MIXED)
    common = ["--model", str(model_dir), "--input", str(source), "--part-size", "2", "--quiet"]
    outputs = {name: tmp_path / f"{name}.jsonl" for name in ("zero", "two", "processes")}
    assert main([*common, "--output", str(outputs["zero"]), "--workers", "0"]) == 0
    assert main([*common, "--output", str(outputs["two"]), "--workers", "2"]) == 0
    result = launch_two_processes([*common, "--output", str(outputs["processes"]), "--workers", "0"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = outputs["zero"].read_bytes()
    assert outputs["two"].read_bytes() == reference
    assert outputs["processes"].read_bytes() == reference
    records = [json.loads(line) for line in reference.decode().splitlines()]
    assert [r["text"] for r in records] == MIXED
    # Batches never span a part (so any process may take any part): the API on each part of 2 gives the same.
    expected = [e.to_dict() for d in itertools.chain(*(tagger.predict(MIXED[i : i + 2]) for i in range(0, 7, 2))) for e in d]
    assert [e for r in records for e in r["entities"]] == expected
    assert not list(tmp_path.glob("*.parts"))  # parts merged and removed


def test_a_killed_run_resumes_and_redoes_only_unfinished_parts(tmp_path, model_dir):
    documents = [ARTICLES[4][:2000].replace("\n", " "), "", ARTICLES[2][:1000].replace("\n", " ")] * 6  # 9 parts
    source = write_lines(tmp_path / "in.txt", documents)
    output, reference = tmp_path / "out.jsonl", tmp_path / "reference.jsonl"
    common = ["--model", str(model_dir), "--input", str(source), "--part-size", "2", "--workers", "0"]
    assert main([*common, "--output", str(reference), "--quiet"]) == 0
    parts = tmp_path / "out.jsonl.parts"
    process = subprocess.Popen([sys.executable, "-m", "vietner.predict", *common, "--output", str(output), "--quiet"], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 180
    while len(list(parts.glob("part-*"))) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.kill()
    process.wait()
    finished = sorted(p.name for p in parts.glob("part-*"))
    assert 3 <= len(finished) < 9 and not output.exists(), finished
    kept = {name: (parts / name).stat().st_mtime_ns for name in finished}
    # Without --resume the unfinished run is neither lost nor silently mixed into a new one.
    assert main([*common, "--output", str(output), "--quiet"]) == 2
    assert sorted(p.name for p in parts.glob("part-*")) == finished
    assert {name: (parts / name).stat().st_mtime_ns for name in finished} == kept
    result = subprocess.run(  # the module runs as a command, with its progress bar
        [sys.executable, "-m", "vietner.predict", *common, "--output", str(output), "--resume"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "doc" in result.stderr and f"{len(finished)} finished parts kept" in result.stderr
    assert f"done: {len(documents) - 2 * len(finished)} documents" in result.stderr  # only the rest was tagged
    assert output.read_bytes() == reference.read_bytes()
    assert not parts.exists()


def test_parquet_and_dataset_inputs_carry_columns_through(tmp_path, model_dir, tagger):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = MIXED[2:5]
    table = pa.table({"id": [10, 11, 12], "content": texts, "meta": [{"a": 1}, None, {"a": 3}]})
    pq.write_table(table, tmp_path / "in.parquet")
    expected = [[e.to_dict() for e in d] for d in tagger.predict(texts)]
    out = tmp_path / "out.parquet"
    args = ["--model", str(model_dir), "--text-column", "content", "--part-size", "2", "--quiet"]
    assert main([*args, "--input", str(tmp_path / "in.parquet"), "--output", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == [10, 11, 12] and [r["meta"] for r in rows] == [{"a": 1}, None, {"a": 3}]
    assert [r["entities"] for r in rows] == expected
    datasets.Dataset.from_dict({"content": texts, "source": ["x", "y", "z"]}).save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "from_dataset.jsonl"
    assert main([*args, "--input", str(tmp_path / "ds"), "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in records] == ["x", "y", "z"] and [r["entities"] for r in records] == expected


def test_a_bad_row_is_one_line_naming_file_and_row(tmp_path, model_dir, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["Hà Nội", None, "Huế"]}), tmp_path / "bad.parquet")
    output = tmp_path / "out.jsonl"
    assert main(["--model", str(model_dir), "--input", str(tmp_path / "bad.parquet"), "--output", str(output), "--quiet"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert errors == [f'error: {tmp_path / "bad.parquet"}: row 1: expected an object with a string "text" field'], err
    assert not output.exists() and not (tmp_path / "out.jsonl.parts").exists()  # nothing blocks the next run
    assert main(["--model", str(model_dir), "--input", str(tmp_path / "bad.parquet"), "--output", str(output), "--text-column", "body"]) == 2
    assert 'no column "body"' in capsys.readouterr().err


def test_cli_prints_a_closing_summary(tmp_path, model_dir, capsys):
    source = write_lines(tmp_path / "in.txt", MIXED[:3])
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("done: 3 documents, ") and "sentences" in last and "entities" in last and "syllables/s" in last


# ------------------------------------------------------------------------------------------------ memory

def live_objects() -> int:
    """Python objects alive after a full collection (containers, tensors, results: what a leak is made of)."""
    gc.collect()
    return len(gc.get_objects())


def test_streaming_keeps_memory_flat(tmp_path_factory):
    tokenizer = write_tokenizer(SYLLABLES + ["Hà_Nội", "Việt_Nam"], tmp_path_factory.mktemp("tokenizer"))
    directory = save_model_dir(tmp_path_factory.mktemp("none"), random_model(tokenizer), tokenizer, segmenter="none")
    tagger = NerTagger.from_pretrained(directory)
    words = "Hà Nội Việt Nam ông Nguyễn Văn An đến thành phố Hồ Chí Minh ngày 7/9".split()
    count = 4_000
    texts = (f"{words[i % len(words)]} {i % 50}" for i in range(count))  # every distinct word within the first tenth
    for documents, found in enumerate(tagger.stream(texts, batch_size=128), start=1):
        if documents == count // 10:
            warm = live_objects()
    growth = live_objects() - warm
    # Holding each document's result (or its tensors, or a per-document cache entry) adds thousands of objects.
    assert documents == count and growth < 100, growth

