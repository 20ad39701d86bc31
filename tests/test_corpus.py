"""CoNLL reading and writing, IOB1 conversion, and the datasets every reader ends in."""

import json

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from vietner.corpus import (
    CorpusFormatError,
    Sentence,
    atomic_write_text,
    format_conll,
    iob1_to_iob2,
    load_conll,
    load_corpus,
    read_conll,
    read_splits,
    write_conll,
)
from vietner.formats import from_hf_dataset
from vietner.schema import labels_for, types_of

HANOI = Sentence(
    ("Sáng", "7/9", ",", "Hà", "Nội", "đón", "bà", "Kang", "Kum-Sil", "."),
    ("B-DATE", "I-DATE", "O", "B-LOC", "I-LOC", "O", "O", "B-PER", "I-PER", "O"),
    "a-1",
    "Sáng 7/9, Hà Nội đón bà Kang Kum-Sil.",
)
MONEY = Sentence(("2,34", "tỷ", "USD"), ("B-MONEY", "I-MONEY", "I-MONEY"), "a-2", "2,34 tỷ USD")


def test_format_conll_layout():
    assert format_conll([MONEY, MONEY]) == (
        "# sent_id = a-2\n# text = 2,34 tỷ USD\n2,34\tB-MONEY\ntỷ\tI-MONEY\nUSD\tI-MONEY\n"
        "\n"
        "# sent_id = a-2\n# text = 2,34 tỷ USD\n2,34\tB-MONEY\ntỷ\tI-MONEY\nUSD\tI-MONEY\n"
    )


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "a.conll"
    write_conll([HANOI, MONEY], path)
    back = read_conll(path)
    assert back == [HANOI, MONEY]
    # Where each block starts: block 1 is 2 comments + 10 tokens (lines 1-12), a blank line, then block 2.
    assert [sentence.line for sentence in back] == [1, 14]


def test_write_refuses_to_overwrite(tmp_path):
    path = tmp_path / "a.conll"
    write_conll([MONEY], path)
    with pytest.raises(FileExistsError):
        write_conll([HANOI], path)
    write_conll([HANOI], path, overwrite=True)
    assert read_conll(path) == [HANOI]


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write_text(tmp_path / "sub" / "x.txt", "xin chào\n")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.txt"]


def test_iob1_to_iob2():
    assert iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG"]) == [
        "B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG",
    ]
    assert iob1_to_iob2(["B-PER", "I-PER", "O"]) == ["B-PER", "I-PER", "O"]


def test_read_iob1_file_gives_iob2(tmp_path):
    path = tmp_path / "iob1.conll"
    path.write_text("Ông\tO\nKang\tI-PER\nKum-Sil\tI-PER\ntới\tO\nSeoul\tI-LOC\n", encoding="utf-8")
    [sentence] = read_conll(path, scheme="IOB1")
    assert sentence.tags == ("O", "B-PER", "I-PER", "O", "B-LOC")
    assert sentence.sent_id == "iob1-1"


def test_iob1_file_read_as_iob2_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "iob1.conll"
    path.write_text("Ông\tO\nKang\tI-PER\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"iob1\.conll:2: I-PER follows O.*IOB1"):
        read_conll(path)


def test_user_conll_with_extra_columns_and_docstart(tmp_path):
    # CoNLL-2003 style: space separated, tag in the last column, -DOCSTART- lines.
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n", encoding="utf-8")
    tabbed = tmp_path / "tabbed.tsv"
    tabbed.write_text("Hà\t1\tNp\tB-LOC\nNội\t2\tNp\tI-LOC\n\n#\t3\tX\tO\nvui\t4\tA\tO\n", encoding="utf-8")
    dataset = load_conll([spaced, tabbed], scheme="IOB1")
    assert isinstance(dataset, Dataset)
    assert dataset["tokens"] == [["EU", "rejects", "German"], ["Hà", "Nội"], ["#", "vui"]]
    assert dataset["tags"] == [["B-ORG", "O", "B-MISC"], ["B-LOC", "I-LOC"], ["O", "O"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Hà\tB-LOC\nNội\n", r"bad\.conll:2: expected TOKEN<TAB>TAG"),
        ("# sent_id = x-1\n# text = Hà\n\nHà\tO\n", r"bad\.conll:1: comment block with no tokens"),
        ("Hà\tO\n\nNội\tLOC\n", r"bad\.conll:3: tag 'LOC' is not O, B-TYPE or I-TYPE"),
        ("Hà\tO\nNội\tO\n\nđẹp\tO\nquá\tI-LOC\n", r"bad\.conll:5: I-LOC follows O"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message):
        read_conll(path)


def test_read_binary_and_missing_files_are_errors_not_crashes(tmp_path):
    binary = tmp_path / "bin.conll"
    binary.write_bytes("Hà\tO\n".encode() + b"\xff\xfe\x00\n")
    with pytest.raises(CorpusFormatError, match=r"bin\.conll:2: not UTF-8"):
        read_conll(binary)
    with pytest.raises(CorpusFormatError, match=r"nope\.conll: no such file"):
        read_conll(tmp_path / "nope.conll")


def _features(tag_feature):
    return Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(tag_feature)})


def test_from_hf_dataset_with_classlabel_ints():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rows = {"tokens": [["Kang", "Kum-Sil", "tới", "Seoul"], ["Chào"]], "ner_tags": [[1, 2, 0, 3], [0]]}
    dataset = Dataset.from_dict(rows, features=_features(ClassLabel(names=names)))
    converted = from_hf_dataset(DatasetDict({"train": dataset, "test": dataset}))
    assert isinstance(converted, DatasetDict)
    assert converted["train"]["tags"] == [["B-PER", "I-PER", "O", "B-LOC"], ["O"]]
    assert converted["test"]["tokens"] == rows["tokens"]
    assert converted["train"].column_names == ["sent_id", "tokens", "tags"]


def test_from_hf_dataset_with_string_tags_and_own_column_names():
    dataset = Dataset.from_dict({"words": [["Hà", "Nội"]], "labels": [["I-LOC", "I-LOC"]]})
    converted = from_hf_dataset(dataset, tokens_column="words", tags_column="labels", scheme="IOB1")
    assert converted["tags"] == [["B-LOC", "I-LOC"]]
    assert converted["sent_id"] == ["0"]


def test_from_hf_dataset_errors():
    ints = Dataset.from_dict({"tokens": [["Hà"]], "ner_tags": [[1]]})
    with pytest.raises(ValueError, match="not a sequence of ClassLabel"):
        from_hf_dataset(ints)
    with pytest.raises(ValueError, match="no column 'ner_tags'"):
        from_hf_dataset(Dataset.from_dict({"tokens": [["Hà"]]}))
    broken = Dataset.from_dict({"tokens": [["a"], ["Hà", "Nội"]], "ner_tags": [["O"], ["O", "I-LOC"]]})
    with pytest.raises(ValueError, match=r"row 1, token 1: I-LOC follows O"):
        from_hf_dataset(broken)


def test_the_label_list_is_derived_from_the_data_with_o_first_and_both_labels_of_each_type():
    dataset = Dataset.from_dict({"tags": [["B-PER", "I-PER", "O"], ["B-LOC"]]})
    assert labels_for(types_of(t for tags in dataset["tags"] for t in tags)) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert labels_for(["PER", "DATE", "PER"]) == ["O", "B-DATE", "I-DATE", "B-PER", "I-PER"]


def _tiny_corpus(tmp_path):
    annotated = tmp_path / "annotated"
    write_conll([HANOI], annotated / "a.conll")
    write_conll([MONEY], annotated / "b.conll")
    write_conll([HANOI, MONEY], annotated / "c.conll")
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"train": ["a", "c"], "dev": ["b"], "test": []}), encoding="utf-8")
    return annotated, splits


def test_load_corpus(tmp_path):
    annotated, splits = _tiny_corpus(tmp_path)
    corpus = load_corpus(annotated, splits)
    assert list(corpus) == ["train", "dev", "test"]
    assert corpus["train"]["sent_id"] == ["a-1", "a-1", "a-2"]
    assert corpus["dev"]["tokens"] == [["2,34", "tỷ", "USD"]]
    assert len(corpus["test"]) == 0
    assert labels_for(types_of(t for split in corpus.values() for tags in split["tags"] for t in tags)) == [
        "O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-MONEY", "I-MONEY", "B-PER", "I-PER",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"train": ["a"],\n "dev": ["b"]\n "test": []}', r"splits\.json:3: not valid JSON"),
        ('{"train": ["a"], "dev": ["a"], "test": []}', r"splits\.json:1: 'a' is listed in both 'train' and 'dev'"),
        ('{"train": ["a"], "test": []}', r"splits\.json:1: expected an object with exactly the keys"),
    ],
)
def test_splits_errors(tmp_path, content, message):
    path = tmp_path / "splits.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message):
        read_splits(path)


def test_load_corpus_names_a_missing_article(tmp_path):
    annotated, splits = _tiny_corpus(tmp_path)
    (annotated / "b.conll").unlink()
    with pytest.raises(CorpusFormatError, match=r"b\.conll: no such file"):
        load_corpus(annotated, splits)


# ------------------------------------------------------------- one reader: encodings, comments, columns


def test_nfd_bom_and_crlf_copies_read_the_same_as_the_nfc_file(tmp_path):
    import unicodedata

    text = format_conll([HANOI, MONEY])
    nfc_file = tmp_path / "nfc.conll"
    nfc_file.write_text(text, encoding="utf-8")
    copies = {
        "nfd": unicodedata.normalize("NFD", text).encode("utf-8"),
        "bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "crlf": text.replace("\n", "\r\n").encode("utf-8"),
        "all": b"\xef\xbb\xbf" + unicodedata.normalize("NFD", text).replace("\n", "\r\n").encode("utf-8"),
    }
    expected = read_conll(nfc_file)
    assert expected == [HANOI, MONEY]
    for name, data in copies.items():
        path = tmp_path / f"{name}.conll"
        path.write_bytes(data)
        assert read_conll(path) == expected, name


def test_bom_before_a_token_line_is_not_part_of_the_token(tmp_path):
    path = tmp_path / "bom.conll"
    path.write_bytes(b"\xef\xbb\xbf" + "Ký\tO\nkết\tO\n".encode("utf-8"))
    [sentence] = read_conll(path)
    assert sentence.tokens == ("Ký", "kết")


def test_hash_token_opening_a_sentence_in_a_space_separated_file(tmp_path):
    path = tmp_path / "spaced.txt"
    path.write_text(
        "# sent_id = s-1\n# text = #COVID lan\n#COVID O\nlan O\n\n"
        "# a free comment\n#COVID B-MISC\n\n# newdoc id = 7\nHà B-LOC\n",
        encoding="utf-8",
    )
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [("#COVID", "lan"), ("#COVID",), ("Hà",)]
    assert sentences[0].sent_id == "s-1" and sentences[0].text == "#COVID lan"
    assert sentences[1].tags == ("B-MISC",)


def test_read_with_a_predictions_column(tmp_path):
    path = tmp_path / "pred.conll"
    path.write_text("# sent_id = p-1\nHà\tB-LOC\tI-LOC\nNội\tI-LOC\tI-LOC\n\nvui\tO\tB-PER\n", encoding="utf-8")
    sentences, predicted = read_conll(path, predictions=True)
    assert [s.tags for s in sentences] == [("B-LOC", "I-LOC"), ("O",)]
    assert predicted == [["I-LOC", "I-LOC"], ["B-PER"]]
    assert sentences[0].sent_id == "p-1"


@pytest.mark.parametrize(
    ("content", "predictions", "message"),
    [
        ("Hà\tB-LOC\tB-LOC\nNội\tI-LOC\tLOC\n", True, r"bad\.conll:2: predicted tag 'LOC' is not O, B-TYPE or I-TYPE"),
        ("Hà\tB-LOC\tB-LOC\n\nNội\tX\tB-LOC\tB-LOC\n", True, r"bad\.conll:3: expected 3 columns like line 1, got 4"),
        ("Hà\tNp\tB-LOC\nNội\tI-LOC\n", False, r"bad\.conll:2: expected 3 columns like line 1, got 2"),
        ("Hà\tB-LOC\n", True, r"bad\.conll:1: expected TOKEN<TAB>GOLD<TAB>PRED"),
    ],
)
def test_column_and_predicted_tag_errors_name_file_and_line(tmp_path, content, predictions, message):
    path = tmp_path / "bad.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message):
        read_conll(path, predictions=predictions)


def test_format_conll_with_predictions_round_trips(tmp_path):
    predicted = [["O"] * 9 + ["I-PER"], ["B-MONEY", "I-MONEY", "O"]]
    text = format_conll([HANOI, MONEY], predictions=predicted)
    assert "2,34\tB-MONEY\tB-MONEY\n" in text
    path = tmp_path / "p.conll"
    path.write_text(text, encoding="utf-8")
    assert read_conll(path, predictions=True) == ([HANOI, MONEY], predicted)


def test_label_map_renames_types_drops_the_rest_and_names_unused_keys():
    from vietner.corpus import apply_label_map

    covid = Sentence(
        ("Ông", "Minh", "45", "tuổi", "Bạch", "Mai", "Hà", "Nội"),
        ("O", "B-NAME", "B-AGE", "I-AGE", "B-ORGANIZATION", "I-ORGANIZATION", "B-LOCATION", "I-LOCATION"),
        "c-1",
    )
    [mapped], notes = apply_label_map([covid], {"NAME": "PER", "LOCATION": "LOC", "ORGANIZATION": "LOC", "DATE": "DATE"}, "covid.conll")
    # Two types mapped to one stay two entities: each keeps its B-.
    assert mapped.tags == ("O", "B-PER", "O", "O", "B-LOC", "I-LOC", "B-LOC", "I-LOC")
    assert mapped.tokens == covid.tokens and mapped.sent_id == "c-1"
    assert notes == ["covid.conll: label map key 'DATE' never occurs there (its types: AGE, LOCATION, NAME, ORGANIZATION)"]
    assert apply_label_map([covid], None, "x") == ([covid], [])
    assert apply_label_map([covid], {"NAME": "O"}, "x")[0][0].tags == ("O",) * 8
