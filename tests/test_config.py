from pathlib import Path

import pytest
import yaml

from vietner.config import Config, ConfigError, config_to_dict, config_to_yaml, load_config

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_configs_directory_has_the_promised_files():
    names = {path.name for path in CONFIGS}
    assert {"tiny.yaml", "phobert-base.yaml", "phobert-base-v2.yaml", "phobert-large.yaml"} <= names
    # a free-GPU (T4) config with fp16
    assert any(load_config(path).train.mixed_precision == "fp16" for path in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads_and_starts_with_its_launch_command(path, tmp_path):
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.name == path.stem
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and "train.py" in first and f"configs/{path.name}" in first
    # the resolved config (what train.py writes to config.yaml) reads back to the same settings
    resolved = tmp_path / "config.yaml"
    resolved.write_text(config_to_yaml(config), encoding="utf-8")
    assert config_to_dict(load_config(resolved)) == config_to_dict(config)


def test_tiny_is_the_offline_scratch_model():
    config = load_config(Path(__file__).parent.parent / "configs" / "tiny.yaml")
    assert config.model.name_or_path is None
    assert config.train.mixed_precision == "no"


def test_pretrained_configs_name_phobert_checkpoints():
    names = {load_config(path).model.name_or_path for path in CONFIGS}
    assert {"vinai/phobert-base", "vinai/phobert-base-v2", "vinai/phobert-large"} <= names


def test_overrides_are_converted_to_the_field_type(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1.0e-3\n", encoding="utf-8")
    config = load_config(
        path,
        [
            "train.lr=3e-5",  # YAML 1.1 reads this as a string; the field is a float
            "train.epochs=7",
            "train.group_by_length=false",
            "train.max_steps=null",
            "model.name_or_path=null",
            "model.scratch.hidden_size=64",
            "data.segmenter=none",
            "output_dir=/tmp/x",
        ],
    )
    assert config.train.lr == pytest.approx(3e-5) and isinstance(config.train.lr, float)
    assert config.train.epochs == 7 and isinstance(config.train.epochs, int)
    assert config.train.group_by_length is False
    assert config.train.max_steps is None
    assert config.model.name_or_path is None
    assert config.model.scratch.hidden_size == 64
    assert config.data.segmenter == "none"
    assert config.output_dir == "/tmp/x"
    assert config.name == "c"


def test_defaults_without_a_file():
    config = load_config(None)
    assert config.model.name_or_path == "vinai/phobert-base"
    assert config.data.max_length == 256


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "unknown config key 'train.lrr'"),
        ("trian.lr=1", "unknown config key 'trian'"),
        ("model.scratch.depth=3", "unknown config key 'model.scratch.depth'"),
        ("train.epochs=many", "'train.epochs' must be an integer"),
        ("train.epochs=2.5", "'train.epochs' must be an integer"),
        ("train.lr=fast", "'train.lr' must be a number"),
        ("train.group_by_length=maybe", "'train.group_by_length' must be true or false"),
        ("model.head=mlp", "'model.head' must be one of softmax, crf"),
        ("train.mixed_precision=fp8", "'train.mixed_precision' must be one of"),
        ("data.max_length=1", "'data.max_length' must be between"),
        ("data.train_file=a.conll", "set all three or none"),
        ("train.lr", "must look like section.key=value"),
        ("data.label_map=NAME", "config key 'data.label_map': label map entry 'NAME' must look like SOURCE=TARGET"),
        ("data.label_map=B-NAME=PER", "config key 'data.label_map': label map entry 'B-NAME'"),
        ("data.extra_train=[{pth: a}]", "unknown config key 'data.extra_train[0].pth'"),
        ("data.extra_train=[{path: ''}]", "config key 'data.extra_train[0].path' must name a data file"),
        ("data.extra_train=[{path: a, tag_column: 0}]", "'data.extra_train[0].tag_column' cannot be 0: column 0 is the token"),
        ("data.extra_train=[{path: a, tokens: subwords}]", "'data.extra_train[0].tokens' must be one of auto, syllables, words"),
        ("data.on_invalid_tag=fix", "'data.on_invalid_tag' must be one of error, repair"),
        ("data.format=csv", "'data.format' must be one of auto, conll, jsonl, parquet, disk"),
        ("data.tag_column=last", "'data.tag_column' must be an integer"),
        ("data.label_map={NAME: [PER]}", "config key 'data.label_map.NAME' must be a string"),
        ("data.label_map={NAME: PER", "config key 'data.label_map': not valid YAML"),
        ("data.extra_train=[{path: a, scheme: BIO}]", "config key 'data.extra_train[0].scheme' must be one of IOB1, IOB2"),
        ("data.extra_train=[{path: a, label_map: [NAME]}]", "config key 'data.extra_train[0].label_map' must be a mapping"),
        ("data.extra_train=a.conll", "config key 'data.extra_train' must be a list"),
        ("data.extra_train=[{path: a, label_map: {NAME: O, O: PER}}]", "label map entry 'O' cannot be mapped"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_label_map_from_set_takes_the_yaml_mapping_as_the_config_file_writes_it():
    yaml_form = load_config(None, ["data.label_map={NAME: PER, LOCATION: LOC, JOB: O}"]).data.label_map
    assert yaml_form == load_config(None, ["data.label_map=NAME=PER,LOCATION=LOC,JOB=O"]).data.label_map
    assert yaml_form == {"NAME": "PER", "LOCATION": "LOC", "JOB": "O"}


def test_reading_options_of_each_source_are_read_and_default_to_the_last_column_and_auto():
    config = load_config(None, ["data.tag_column=1", "data.on_invalid_tag=repair",
                                "data.extra_train=[{path: a.jsonl, token_key: words, tag_key: tags, tokens: words}, {path: b.conll}]"])
    assert (config.data.tag_column, config.data.on_invalid_tag, config.data.tokens) == (1, "repair", "auto")
    first, second = config.data.extra_train
    assert (first.token_key, first.tag_key, first.tokens, first.format) == ("words", "tags", "words", "auto")
    assert (second.tag_column, second.tokens, second.on_invalid_tag) == (None, "auto", "error")


def test_unknown_key_in_file_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  learning_rate: 1.0e-3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown config key 'train.learning_rate'"):
        load_config(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train:\n  lr: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.yaml:"):
        load_config(path)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("configs/no-such-config.yaml")


def test_resolved_config_yaml_is_plain_data():
    values = yaml.safe_load(config_to_yaml(load_config(None, ["train.lr=2e-5"])))
    assert values["train"]["lr"] == pytest.approx(2e-5)
    assert set(values) == {"model", "data", "train", "output_dir"}


def test_label_maps_and_extra_sources_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data:\n  label_map: {NAME: PER, LOCATION: LOC}\n  extra_train:\n"
        "    - path: /data/vlsp2016/train.conll\n      scheme: IOB1\n      label_map: {PER: PER, ORG: ORG}\n"
        "    - path: more.conll\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.data.label_map == {"NAME": "PER", "LOCATION": "LOC"}
    first, second = config.data.extra_train
    assert (first.path, first.scheme, first.label_map) == ("/data/vlsp2016/train.conll", "IOB1", {"PER": "PER", "ORG": "ORG"})
    assert (second.path, second.scheme, second.label_map) == ("more.conll", "IOB2", None)
    resolved = tmp_path / "config.yaml"
    resolved.write_text(config_to_yaml(config), encoding="utf-8")
    assert config_to_dict(load_config(resolved)) == config_to_dict(config)
    overridden = load_config(path, ["data.label_map=NAME=PER, DATE=DATE", "data.extra_train=[{path: x.conll, label_map: {A: B}}]"])
    assert overridden.data.label_map == {"NAME": "PER", "DATE": "DATE"}
    assert overridden.data.extra_train[0].label_map == {"A": "B"}
    assert load_config(path, ["data.label_map=null", "data.extra_train=[]"]).data.extra_train == []



def test_the_two_stage_example_pair_chains_stage_one_s_model_into_stage_two():
    configs = Path(__file__).parent.parent / "configs"
    stage1, stage2 = load_config(configs / "stage1-phoner-covid19.yaml"), load_config(configs / "stage2-own-articles.yaml")
    assert stage2.model.name_or_path == f"{stage1.output_dir}/model"
    assert stage1.data.label_map == {"NAME": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG", "DATE": "DATE"}
    assert stage1.data.train_file.endswith("train_syllable.conll") and stage2.data.train_file is None
    # Stage 2 leaves preprocessing and head to the stage-1 model: none of those keys is in its file.
    written = yaml.safe_load((configs / "stage2-own-articles.yaml").read_text(encoding="utf-8"))
    assert not {"segmenter", "normalize_tones", "max_length", "window_overlap"} & set(written["data"])
    assert "head" not in written["model"]
