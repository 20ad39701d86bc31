"""Public corpora as users have them: word tokens, tags in any column, JSON lines, Parquet, save_to_disk, stray I- tags.

Every shape is a twin of one syllable-level CoNLL file and must read (and train) exactly as that file does.
"""

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from seqeval.metrics.sequence_labeling import get_entities
from training_fixtures import synthetic_sentence, tiny_args, write_corpus

from vietner.config import ReadOptions, load_config
from vietner.corpus import CorpusFormatError, Sentence, read_conll, write_conll
from vietner.cli.data import main as data_main
from vietner.cli.evaluate import main as evaluate_main
from vietner.formats import read_source, syllables, to_syllables
from vietner.sources import format_sources, load_splits, source_counts

# Tokens where "_" joins no syllables: they stay whole in every reading.
NOT_JOINS = ["lien_he@vnexpress.net", "https://vnexpress.net/a_b", "@nguyen_van", "#Ha_Noi", "__init__", "_x", "x_"]


def syllable_sentences(seed: int, size: int) -> list[Sentence]:
    """Syllable-level sentences, each ending with one token where ``_`` is no join."""
    rng = random.Random(seed)
    out = []
    for i in range(size):
        s = synthetic_sentence(rng, f"s-{i}")
        extra = NOT_JOINS[i % len(NOT_JOINS)]
        out.append(Sentence(s.tokens[:-1] + (extra, s.tokens[-1]), s.tags[:-1] + ("O", "O"), f"words-{i + 1}"))
    return out


def _joinable(token: str) -> bool:
    return token not in NOT_JOINS and token not in (".", ",")


def words_of(sentence: Sentence) -> list[tuple[list[str], str]]:
    """The sentence as words of at most two syllables, never across an entity boundary: (syllables, tag)."""
    words: list[tuple[list[str], str]] = []
    for token, tag in zip(sentence.tokens, sentence.tags):
        last = words[-1] if words else None
        same_run = last is not None and (tag == "O" and last[1] == "O" or tag.startswith("I-") and last[1][2:] == tag[2:])
        if same_run and len(last[0]) < 2 and _joinable(token) and _joinable(last[0][-1]):
            last[0].append(token)
        else:  # an entity's second word continues it (I-X), so spreading I- is exercised too
            words.append(([token], tag))
    return words


def write_underscore_twin(path: Path, sentences: list[Sentence]) -> Path:
    """PhoNER_COVID19 word/ layout: ``Hà_Nội B-LOC``, space-separated."""
    blocks = ["\n".join(f"{'_'.join(w)} {t}" for w, t in words_of(s)) for s in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_space_twin(path: Path, sentences: list[Sentence]) -> Path:
    """VLSP 2016 layout: ``token<TAB>POS<TAB>chunk<TAB>NER``, a word's syllables joined by a space."""
    blocks = ["\n".join(f"{' '.join(w)}\tN\tB-NP\t{t}" for w, t in words_of(s)) for s in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), long_clauses=0)


@pytest.fixture(scope="module")
def word_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("words")
    sentences = syllable_sentences(3, 30)
    syllable = directory / "words.conll"
    write_conll(sentences, syllable)
    return sentences, {"syllables": syllable, "underscore": write_underscore_twin(directory / "underscore.conll", sentences),
                       "space": write_space_twin(directory / "space.conll", sentences)}


def files_config(corpus: dict[str, Path], *overrides: str):
    return load_config(None, [f"data.{split}_file={corpus[split]}" for split in ("train", "dev", "test")] + list(overrides))


def test_syllables_split_joins_and_leave_addresses_handles_and_stray_underscores_whole():
    assert syllables("Hà_Nội") == ["Hà", "Nội"] and syllables("Phước Sơn") == ["Phước", "Sơn"]
    assert syllables("Thành_phố Hồ_Chí_Minh") == ["Thành", "phố", "Hồ", "Chí", "Minh"]
    assert all(syllables(token) == [token] for token in NOT_JOINS)
    sentences = [Sentence(("UBND_TP", "Hà_Nội", "họp", "x_y"), ("B-ORG", "I-ORG", "O", "O"))]
    split, unit, count = to_syllables(sentences, "words")
    assert split[0].tokens == ("UBND", "TP", "Hà", "Nội", "họp", "x", "y") and (unit, count) == ("words", 3)
    assert split[0].tags == ("B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "O", "O")
    assert to_syllables(sentences, "syllables") == (sentences, "syllables", 0)


def test_word_segmented_twins_pool_into_training_as_their_syllable_twin(corpus, word_files, capsys):
    sentences, files = word_files
    extra = "data.extra_train=[" + ", ".join(f"{{path: '{files[k]}'}}" for k in ("syllables", "underscore", "space")) + "]"
    config = files_config(corpus, extra, f"data.dev_file={files['space']}")
    reading: dict = {}
    splits = load_splits(config.data, reading)
    train = splits["train"]
    part = {i: [(tuple(t), tuple(g)) for t, g, s in zip(train["tokens"], train["tags"], train["source"]) if s == i] for i in (1, 2, 3)}
    expected = [(s.tokens, s.tags) for s in sentences]
    assert part[1] == expected and part[2] == expected and part[3] == expected
    assert [(tuple(t), tuple(g)) for t, g in zip(splits["dev"]["tokens"], splits["dev"]["tags"])] == expected
    joined = sum(len(w) > 1 for s in sentences for w, _ in words_of(s))
    assert joined > 0
    rows = {(r["split"], r["source"]): r for r in source_counts(splits, config.data, reading)}
    assert rows["train", "data.extra_train[0]"]["tokens_split"] == 0
    assert rows["train", "data.extra_train[1]"]["tokens_split"] == joined == rows["train", "data.extra_train[2]"]["tokens_split"]
    assert (rows["dev", "data.dev_file"]["tokens"], rows["dev", "data.dev_file"]["tokens_setting"]) == ("words", "auto")
    printed = format_sources(list(rows.values()))
    assert f"data.dev_file {files['space']}: 30 sentences" in printed
    assert f"; conll, tokens: auto -> words, {joined} word tokens split into syllables" in printed
    assert f"data.extra_train[0] {files['syllables']}: 30 sentences" in printed and "tokens: auto -> syllables" in printed
    assert capsys.readouterr().err == ""  # the VLSP-style chunk column (B-NP on every token) is no tag layer


def test_inner_space_tokens_need_a_tab_separated_file_and_stay_whole_as_syllables(tmp_path):
    tabbed = tmp_path / "tabbed.conll"
    tabbed.write_text("Phước Sơn\tNp\tB-LOC\nđẹp\tA\tO\n", encoding="utf-8")
    assert read_source(tabbed, ReadOptions(tokens="syllables")).sentences[0].tokens == ("Phước Sơn", "đẹp")
    assert read_source(tabbed, ReadOptions(tokens="words")).sentences[0].tags == ("B-LOC", "I-LOC", "O")
    # Tabs decide for the whole file: a line split at spaces in a tab-separated file is a problem, not a guess.
    mixed = tmp_path / "mixed.conll"
    mixed.write_text("Hà\tB-LOC\nNội I-LOC\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"mixed.conll:2: expected TOKEN<TAB>TAG"):
        read_conll(mixed)


# ------------------------------------------------------------------------------------------------------
# Tags in another column.


def write_nested(path: Path, sentences: list[Sentence]) -> Path:
    """VLSP 2018 layout: token, level-1 tags (all entities), level-2 (PER only), level-3 (the first DATE only)."""
    blocks, seen_date = [], False
    for s in sentences:
        rows = []
        for token, tag in zip(s.tokens, s.tags):
            level3 = tag if tag.endswith("DATE") and not seen_date else "O"
            rows.append(f"{token}\t{tag}\t{tag if tag.endswith('PER') else 'O'}\t{level3}")
        seen_date = seen_date or any(t.endswith("DATE") for t in s.tags)
        blocks.append("\n".join(rows))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    sentences = [synthetic_sentence(random.Random(i), f"n-{i}") for i in range(25)]
    return sentences, write_nested(tmp_path_factory.mktemp("nested") / "nested.conll", sentences)


def entities(sentences) -> list:
    return [(i, e) for i, s in enumerate(sentences) for e in get_entities(list(s.tags))]


def test_nested_file_read_with_tag_column_1_gives_its_level_1_entities(nested):
    sentences, path = nested
    read = read_source(path, ReadOptions(tag_column=1))
    assert entities(read.sentences) == entities(sentences) and read.notes == []
    assert [layer.column for layer in read.layers] == [1, 2, 3]
    assert read_source(path, ReadOptions(tag_column=-3)).sentences == read.sentences
    last = read_source(path, ReadOptions())
    assert len(entities(last.sentences)) == 1
    assert last.notes == [f"{path}: the tags read (column 3) hold 1 entities but {read.layers[0]}; set tag_column: 1 to read that column"]


def test_validate_prints_each_tag_column_and_warns_when_the_column_read_holds_fewer(nested, capsys):
    sentences, path = nested
    assert data_main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    total = len(entities(sentences))
    assert f"column 1: {total} entities" in out and "column 2:" in out and "column 3: 1 entities (DATE 1)" in out
    assert err.splitlines() == [f"warning: {path}: the tags read (column 3) hold 1 entities but column 1: {total} entities "
                                f"({', '.join(f'{k} {n}' for k, n in read_source(path, ReadOptions(tag_column=1)).layers[0].by_type.items())}); "
                                "set tag_column: 1 to read that column"]
    assert data_main(["validate", str(path), "--tag-column", "1"]) == 0
    out, err = capsys.readouterr()
    assert f"{total} entities" in out.splitlines()[0] and err == ""


def test_training_prints_the_same_warning_and_pools_the_column_asked_for(corpus, nested, capsys):
    sentences, path = nested
    load_splits(files_config(corpus, f"data.extra_train=[{{path: '{path}'}}]").data)
    assert capsys.readouterr().err.splitlines() == [f"warning: data.extra_train[0]: {read_source(path, ReadOptions()).notes[0]}"]
    splits = load_splits(files_config(corpus, f"data.extra_train=[{{path: '{path}', tag_column: 1}}]").data)
    pooled = [s for s, source in zip(splits["train"]["tags"], splits["train"]["source"]) if source == 1]
    assert pooled == [list(s.tags) for s in sentences] and capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------------
# JSON lines, Parquet and save_to_disk twins of one CoNLL file.

LABELS = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MONEY", "DATE") for p in "BI"]
FEATURES = Features({"sent_id": Value("string"), "text": Value("string"), "tokens": Sequence(Value("string")),
                     "ner_tags": Sequence(ClassLabel(names=LABELS))})


def twin_dataset(sentences: list[Sentence]) -> Dataset:
    return Dataset.from_dict({"sent_id": [s.sent_id for s in sentences], "text": [s.text for s in sentences],
                              "tokens": [list(s.tokens) for s in sentences],
                              "ner_tags": [[LABELS.index(t) for t in s.tags] for s in sentences]}, features=FEATURES)


def write_twins(directory: Path, conll: Path) -> dict[str, Path]:
    sentences = read_conll(conll)
    jsonl = directory / f"{conll.stem}.jsonl"
    jsonl.write_text("".join(json.dumps({"sent_id": s.sent_id, "text": s.text, "words": list(s.tokens), "tags": list(s.tags)},
                                        ensure_ascii=False) + "\n" for s in sentences), encoding="utf-8")
    parquet = directory / f"{conll.stem}.parquet"
    twin_dataset(sentences).to_parquet(str(parquet))
    disk = directory / conll.stem
    twin_dataset(sentences).save_to_disk(str(disk))
    return {"conll": conll, "jsonl": jsonl, "parquet": parquet, "disk": disk}


@pytest.fixture(scope="module")
def twins(corpus, tmp_path_factory):
    directory = tmp_path_factory.mktemp("twins")
    return {split: write_twins(directory, corpus[split]) for split in ("train", "dev", "test")}


def test_every_format_twin_reads_the_same_sentences(twins):
    for split, files in twins.items():
        expected = read_conll(files["conll"])
        for fmt in ("jsonl", "parquet", "disk"):
            read = read_source(files[fmt], ReadOptions())
            assert read.format == fmt and read.sentences == expected, (split, fmt)


def write_stray(path: Path) -> Path:
    """A file with two stray I- tags (after O, as VLSP 2016's test file has them)."""
    path.write_text("Ông\tO\nAn\tI-PER\nđến\tO\n\nTại\tO\nHà\tI-LOC\nNội\tI-LOC\n", encoding="utf-8")
    return path


def test_format_twins_train_to_the_same_test_f1_and_repair_reports_both_lines(train_main, corpus, twins, tmp_path, capsys):
    stray = write_stray(tmp_path / "stray.conll")
    with pytest.raises(CorpusFormatError, match=r"stray.conll:2: I-PER follows O"):
        load_splits(files_config(corpus, f"data.extra_train=[{{path: '{stray}'}}]").data)
    extra = f"data.extra_train=[{{path: '{stray}', on_invalid_tag: repair}}]"
    settings = ("data.segmenter=none", "train.epochs=2", "train.score_train_split=false", extra)
    runs = {"conll": corpus, "mixed": {"train": twins["train"]["jsonl"], "dev": twins["dev"]["parquet"], "test": twins["test"]["disk"]}}
    metrics = {}
    for name, files in runs.items():
        assert train_main(tiny_args(files, tmp_path / name, *settings)) == 0
        err = capsys.readouterr().err
        assert f"warning: data.extra_train[0]: {stray}: 2 stray I- tag(s) read as B- (on_invalid_tag: repair): {stray}:2, {stray}:6" in err
        metrics[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["mixed"]["test"]["strict"]["overall"]["f1"] == metrics["conll"]["test"]["strict"]["overall"]["f1"]
    assert metrics["mixed"]["epochs"][-1]["train_loss"] == metrics["conll"]["epochs"][-1]["train_loss"]
    sources = {row["source"]: row for row in metrics["mixed"]["sources"]}
    assert (sources["data.train_file"]["format"], sources["data.test_file"]["format"]) == ("jsonl", "disk")
    assert sources["data.extra_train[0]"]["tags_repaired"] == 2 and sources["data.extra_train[0]"]["by_type"] == {"PER": 1, "LOC": 1}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("path", "format")} for r in rows]  # noqa: E731
    assert strip(metrics["mixed"]["sources"]) == strip(metrics["conll"]["sources"])


def test_evaluate_scores_every_format_and_tag_column_alike(corpus, twins, nested, tmp_path):
    def comparison(*data: str) -> dict:
        out = tmp_path / "report.json"
        assert evaluate_main([*data, "--baselines", "dictionary", "--train", str(corpus["train"]), "--output", str(out),
                              "--overwrite", "--bootstrap", "10"]) == 0
        return json.loads(out.read_text())["comparison"]

    expected = comparison("--data", str(twins["test"]["conll"]))
    for fmt in ("jsonl", "parquet", "disk"):
        assert comparison("--data", str(twins["test"][fmt])) == expected
    _, path = nested
    flat = tmp_path / "level1.conll"
    write_conll(read_source(path, ReadOptions(tag_column=1)).sentences, flat)
    assert comparison("--data", str(path), "--tag-column", "1") == comparison("--data", str(flat))


# ------------------------------------------------------------------------------------------------------
# Each new error: one line naming the file and line, row or key; exit status 2.


def bad_files(directory: Path) -> dict[str, tuple[Path, str]]:
    """Files that cannot be read, with what their one-line error must say."""
    key = directory / "key.jsonl"
    key.write_text('{"words": ["Hà"], "tags": ["B-LOC"]}\n{"words": ["Huế"], "labels": ["B-LOC"]}\n', encoding="utf-8")
    ints = twin_dataset([Sentence(("Hà", "Nội"), ("B-LOC", "I-LOC"), "x")])
    table = ints.data.table
    column = pa.array([[1, 42]], type=table.schema.field("ner_tags").type)
    pq.write_table(table.set_column(table.schema.get_field_index("ner_tags"), "ner_tags", column), directory / "unnamed.parquet")
    return {
        "key": (key, f"{key}:2: no key 'tags' or 'ner_tags' for the tags (keys: words, labels); name it with tag_key"),
        "unnamed": (directory / "unnamed.parquet", f"{directory / 'unnamed.parquet'} row 0: tag id 42 has no name in 'ner_tags'"),
    }


def one_line_error(capsys) -> str:
    """The one line a command wrote on stderr: an error, no traceback."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_new_errors_are_one_line_with_status_2_in_train_evaluate_and_validate(train_main, corpus, nested, tmp_path, capsys):
    _, path = nested
    cases = {**bad_files(tmp_path), "column": (path, f"{path}:1: tag_column 7 is not a tag column of this file: its lines have 4 columns")}
    for name, (bad, message) in cases.items():
        column = ", tag_column: 7" if name == "column" else ""
        assert train_main(tiny_args(corpus, tmp_path / "run", f"data.extra_train=[{{path: '{bad}'{column}}}]")) == 2, name
        assert one_line_error(capsys).startswith(f"error: data.extra_train[0]: {message}")
        flags = ["--tag-column", "7"] if name == "column" else []
        assert evaluate_main(["--data", str(bad), *flags, "--baselines", "dictionary", "--train", str(corpus["train"])]) == 2, name
        assert message in one_line_error(capsys)
        assert data_main(["validate", str(bad), *flags]) == 2, name
        assert message in one_line_error(capsys)


def test_the_readme_examples_are_valid_config(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b.split("\n", 1)[1] for b in readme.split("```yaml")[1:] if "tag_column: 1" in b).split("```")[0]
    path = tmp_path / "own.yaml"
    path.write_text(block, encoding="utf-8")
    sources = load_config(path).data.extra_train
    assert [(s.tag_column, s.tokens, s.on_invalid_tag, s.token_key) for s in sources] == [
        (None, "words", "repair", None), (1, "auto", "error", None), (None, "words", "error", None),
        (None, "auto", "error", "words"), (None, "auto", "error", "tokens"), (None, "auto", "error", None),
    ]
