"""The prediction core: every score vietner reports is the score of what ``NerTagger.predict`` returns.

Differential tests: ``train.py``'s ``metrics.json``, ``evaluate.py --model`` and seqeval on ``predict()``'s
entities (mapped onto the gold syllables by their character offsets) must agree, for both heads, on splits
holding a sentence longer than one window.
"""

import json

import pytest
from tagger_fixtures import LABELS, SYLLABLES, lookup_model, write_tokenizer
from safetensors.torch import load_file
from training_fixtures import tiny_args

from vietner import NerTagger
from vietner.config import Preprocessing, TrainConfig
from vietner.corpus import Sentence, read_conll, to_dataset
from vietner.cli.evaluate import main as evaluate_main
from vietner.metrics import score_modes
from vietner.checkpoints import RunState
from vietner.training import score_split


def overall(scores, mode):
    return round(scores[mode]["overall"]["f1"], 4), round(scores[mode]["overall"]["precision"], 4)


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_metrics_json_equals_evaluate_py_and_predict(request, long_corpus, tmp_path, capsys, head):
    files, out = long_corpus, request.getfixturevalue(f"trained_{head}")
    metrics = json.loads((out / "metrics.json").read_text())
    tagger = NerTagger.from_pretrained(out / "model")
    assert tagger.tokenizer.is_fast  # the model directory's tokenizer.json
    for split in ("dev", "test"):
        sentences = read_conll(files[split])
        assert max(len(s.tokens) for s in sentences) > 300
        report = tmp_path / f"{split}.json"
        assert evaluate_main(["--model", str(out / "model"), "--data", str(files[split]), "--output", str(report), "--baselines", "--bootstrap", "10"]) == 0
        evaluated = json.loads(report.read_text())
        # predict() on each sentence's text: its tags (predict_tags spells predict's entities) over the gold tokens
        tagged = tagger.predict_tags([s.text or " ".join(s.tokens) for s in sentences])
        assert [[t.text for part in text for t in part.tokens] for text in tagged] == [list(s.tokens) for s in sentences]
        predicted = score_modes([s.tags for s in sentences], [[tag for part in text for tag in part.tags] for text in tagged])
        for mode in ("strict", "default"):
            from_metrics = overall(metrics[split], mode)
            assert from_metrics == overall(evaluated, mode) == overall(predicted, mode), (split, mode)
        # one shape: metrics.json's scores are evaluate.py's, key for key (types, averages, support)
        assert {mode: metrics[split][mode] for mode in ("strict", "default")} == {mode: evaluated[mode] for mode in ("strict", "default")}, split
    # the kept epoch's dev score during training is the final dev score of the kept model
    assert metrics["epochs"][metrics["best_epoch"] - 1]["dev"]["strict"] == metrics["dev"]["strict"]
    capsys.readouterr()


@pytest.fixture
def accelerator():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield Accelerator(cpu=True)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_selection_metric_counts_a_stray_i_tag_as_predict_does(tmp_path, accelerator):
    # The model tags "Kang" I-PER with nothing before it: predict() returns it as a PER entity, a false
    # positive here. Read in IOB2 strict mode from the raw tags it would vanish and dev F1 would be 1.0.
    tokenizer = write_tokenizer(SYLLABLES, tmp_path / "tok")
    labels = {"Hà": "B-LOC", "Nội": "I-LOC", "Kang": "I-PER"}
    tagger = NerTagger(lookup_model(tokenizer, labels), tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16))
    tokens = "Bí thư Hà Nội tiếp bà Kang Kum-Sil".split()
    gold = ("O", "O", "B-LOC", "I-LOC", "O", "O", "O", "O")
    dev = to_dataset([Sentence(tuple(tokens), gold, "d1", " ".join(tokens))])
    scores, _ = score_split(accelerator, tagger, dev, batch_size=4)
    state = RunState()
    state.record(1, scores, None, {"train_loss": 1.0, "train_tokens_per_s": 1.0, "seconds": 1.0}, 1e-3, TrainConfig(epochs=1))
    entities = tagger.predict(" ".join(tokens))
    assert [(e.label, e.text) for e in entities] == [("LOC", "Hà Nội"), ("PER", "Kang")]
    assert state.best_f1 == pytest.approx(2 * 1 / (2 + 1))  # one of two predicted entities is right
    raw = [["O", "O", "B-LOC", "I-LOC", "O", "O", "I-PER", "O"]]
    assert score_modes([list(gold)], raw)["strict"]["overall"]["f1"] == 1.0  # what selection used to read


def test_crf_transitions_learn_at_the_encoders_fine_tuning_rate(train_main, long_corpus, tmp_path, capsys):
    # At PhoBERT's lr (5e-5) in the encoder's AdamW group, the transitions barely leave their random init.
    files = long_corpus
    settings = ("model.head=crf", "train.lr=5e-5", "data.segmenter=none", "train.score_train_split=false", "data.max_length=64", "data.window_overlap=16")
    assert train_main(tiny_args(files, tmp_path / "one-step", *settings, "train.epochs=1", "train.max_steps=1", "train.select_on=last")) == 0
    assert train_main(tiny_args(files, tmp_path / "run", *settings, "train.epochs=5", "train.select_on=last")) == 0
    start = load_file(str(tmp_path / "one-step" / "model" / "crf.safetensors"))  # the init, one step on
    end = load_file(str(tmp_path / "run" / "model" / "crf.safetensors"))
    moved = max(float((end[k] - start[k]).abs().max()) for k in ("transitions", "start_transitions", "end_transitions"))
    assert moved > 0.05, moved
    capsys.readouterr()


def test_special_token_strings_in_text_are_split_as_text(tmp_path):
    tokenizer = write_tokenizer(SYLLABLES, tmp_path / "tok")
    tagger = NerTagger(lookup_model(tokenizer, {"Hà": "B-LOC"}), tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16))
    ids = [i for pieces in tagger.predictor.preprocessor.pieces(["Hà<pad>Nội", "<s>", "</s>"]) for i in pieces]
    specials = {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.mask_token_id}
    assert not specials & set(ids)
    # Differential: the special-token strings tag exactly as plain strings of the same length would.
    with_specials = tagger.predict("Hà<pad>Nội và <mask> Hà")
    plain = tagger.predict("Hà<abc>Nội và <efgh> Hà")
    assert [(e.start, e.end, e.label) for e in with_specials] == [(e.start, e.end, e.label) for e in plain]
    assert ("LOC", "Hà") in [(e.label, e.text) for e in with_specials]


def test_max_length_over_the_checkpoints_limit_is_a_config_error(train_main, long_corpus, tmp_path, capsys):
    files = long_corpus
    from vietner.modeling import ModelSettings, NerModel, save_model_dir

    tokenizer = write_tokenizer(SYLLABLES, tmp_path / "tok")
    checkpoint = tmp_path / "checkpoint"
    save_model_dir(checkpoint, NerModel(lookup_model(tokenizer, {}, max_length=256)), tokenizer, ModelSettings(labels=LABELS))
    (checkpoint / "vietner.json").unlink()  # a plain transformers checkpoint with 258 positions
    assert train_main(tiny_args(files, tmp_path / "run", f"model.name_or_path={checkpoint}", "data.max_length=512")) == 2
    err = capsys.readouterr().err
    assert "data.max_length" in err and "256" in err and "Traceback" not in err


def test_one_preprocessor_per_run_segments_each_dev_sentence_once(tmp_path, accelerator):
    # train.py scores with a NerTagger on its own Preprocessor: the segmentation ceiling and every epoch's
    # scoring read the same cached words, so a dev sentence goes through the segmenter once per run.
    from vietner.encoding import Preprocessor
    from vietner.segment import SyllableSegmenter
    from vietner.training import segmentation_ceiling

    class Counting(SyllableSegmenter):
        calls = 0

        def words(self, syllables):
            Counting.calls += 1
            return super().words(syllables)

    tokenizer = write_tokenizer(SYLLABLES, tmp_path / "tok")
    preprocessor = Preprocessor(tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16), Counting())
    tagger = NerTagger(lookup_model(tokenizer, {"Hà": "B-LOC", "Nội": "I-LOC"}), tokenizer, preprocessor=preprocessor)
    dev = to_dataset([Sentence(tuple(f"Bí thư Hà Nội tiếp bà {name}".split()), ("O", "O", "B-LOC", "I-LOC", "O", "O", "O"), name)
                      for name in ("Kang", "Dũng", "An")])
    segmentation_ceiling(dev, preprocessor)
    for _ in range(3):  # three epochs of dev scoring
        scores, _ = score_split(accelerator, tagger, dev, batch_size=4)
    assert scores["strict"]["overall"]["f1"] == 1.0
    assert Counting.calls == len(dev)
