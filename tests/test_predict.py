import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from tagger_fixtures import SYLLABLES, random_model, save_model_dir, write_tokenizer

from vietner import NerTagger
from vietner.corpus import read_conll
from vietner.cli.predict import main

DOCUMENTS = [
    "Sáng 7/9, Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil tại Việt Nam. Ông Nguyễn Văn An đến.",
    "",
    unicodedata.normalize("NFD", "Hà Nội\u00a0và\ttỉnh Gyeonggi, Hàn Quốc: hợp tác phát triển 2,34 tỷ USD"),
    "   ",
    "Seoul 😀 https://vnexpress.net/x.html 서울",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = write_tokenizer(SYLLABLES + ["Hà_Nội", "Việt_Nam"], tmp_path_factory.mktemp("tokenizer"))
    return save_model_dir(tmp_path_factory.mktemp("model"), random_model(tokenizer), tokenizer)


@pytest.fixture(scope="module")
def tagger(model_dir):
    return NerTagger.from_pretrained(model_dir)


def write_text(path: Path, documents: list[str]) -> Path:
    path.write_text("".join(d + "\n" for d in documents), encoding="utf-8")
    return path


def test_text_to_jsonl_round_trip(tmp_path, model_dir, tagger):
    source = write_text(tmp_path / "in.txt", DOCUMENTS)
    output = tmp_path / "out" / "entities.jsonl"
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--quiet"]) == 0
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == DOCUMENTS  # one record per input line, the text as given
    expected = tagger.predict(DOCUMENTS)
    assert [r["entities"] for r in records] == [[e.to_dict() for e in entities] for entities in expected]
    for record in records:
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]
    assert any(r["entities"] for r in records)
    assert not [p for p in output.parent.iterdir() if p.name != output.name]  # no temporary file left behind


def test_jsonl_input_keeps_fields_and_batch_size(tmp_path, model_dir, tagger):
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": d}, ensure_ascii=False) + "\n" for i, d in enumerate(DOCUMENTS)]
    source.write_text("".join(lines), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--batch-size", "2", "--quiet"]) == 0
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [f"d{i}" for i in range(len(DOCUMENTS))]
    assert [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in records] == [
        [(e.start, e.end, e.label) for e in entities] for entities in tagger.predict(DOCUMENTS)
    ]


def test_conll_output_is_readable_iob2(tmp_path, model_dir, tagger):
    source = write_text(tmp_path / "in.txt", DOCUMENTS)
    output = tmp_path / "out.conll"
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--format", "conll", "--quiet"]) == 0
    sentences = read_conll(output)
    tagged = [s for document in tagger.predict_tags(DOCUMENTS) for s in document]
    # The file keeps the document's own characters (one document is NFD); read_conll reads them as NFC.
    nfc = lambda text: unicodedata.normalize("NFC", text)  # noqa: E731
    assert [s.tokens for s in sentences] == [tuple(nfc(t.text) for t in s.tokens) for s in tagged]
    assert [s.tags for s in sentences] == [s.tags for s in tagged]
    assert sentences[0].sent_id == "1-1" and sentences[-1].sent_id.startswith("5-")
    # Valid IOB2 spelling exactly the entities predict() returns for the same documents.
    assert sum(tag.startswith("B-") for s in sentences for tag in s.tags) == sum(map(len, tagger.predict(DOCUMENTS)))


def test_existing_output_is_kept_without_overwrite(tmp_path, model_dir, capsys):
    source = write_text(tmp_path / "in.txt", DOCUMENTS[:1])
    output = tmp_path / "out.jsonl"
    output.write_text("precious\n")
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--quiet"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert output.read_text() == "precious\n"
    assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--overwrite", "--quiet"]) == 0
    assert json.loads(output.read_text(encoding="utf-8"))["text"] == DOCUMENTS[0]


def test_bad_inputs_are_one_line_errors(tmp_path, model_dir, capsys):
    output = tmp_path / "out.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Hà Nội"}\n{"txt": 1}\n', encoding="utf-8")
    assert main(["--model", str(model_dir), "--input", str(bad), "--output", str(output), "--quiet"]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert not output.exists()
    assert main(["--model", str(tmp_path / "nope"), "--input", str(bad), "--output", str(output)]) == 2
    assert "no such model directory" in capsys.readouterr().err
    assert main(["--model", str(model_dir), "--input", str(tmp_path / "missing.txt"), "--output", str(output)]) == 2
    assert "no such file" in capsys.readouterr().err
    # a line that is not UTF-8, and a JSON text holding a lone surrogate: named by file and line
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Hà Nội\n".encode() + "Đà Nẵng\n".encode("utf-16-le") + b"\n")
    assert main(["--model", str(model_dir), "--input", str(latin), "--output", str(output), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{latin}:2: not UTF-8" in err and "Traceback" not in err
    surrogate = tmp_path / "surrogate.jsonl"
    surrogate.write_text('{"text": "Hà Nội"}\n{"text": "a\\udc80b"}\n', encoding="utf-8")
    assert main(["--model", str(model_dir), "--input", str(surrogate), "--output", str(output), "--quiet"]) == 2
    assert f"{surrogate}:2: the text has a lone surrogate" in capsys.readouterr().err
    assert not output.exists()


def test_plain_text_lines_are_documents(tmp_path):
    from vietner.cli.predict import read_documents

    source = tmp_path / "in.txt"
    source.write_bytes("Hà Nội\u2028vẫn một dòng\r\n\r\n{not json}\nlast".encode())
    assert [r["text"] for r in read_documents(source)] == ["Hà Nội\u2028vẫn một dòng", "", "{not json}", "last"]


def test_output_gets_the_umask_permissions(tmp_path, model_dir):
    source = write_text(tmp_path / "in.txt", DOCUMENTS[:1])
    for umask, mode in ((0o022, 0o644), (0o077, 0o600)):
        output = tmp_path / f"out-{umask:o}.jsonl"
        old = os.umask(umask)
        try:
            assert main(["--model", str(model_dir), "--input", str(source), "--output", str(output), "--quiet"]) == 0
        finally:
            os.umask(old)
        assert output.stat().st_mode & 0o777 == mode
