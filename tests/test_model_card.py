"""A train.py model directory as the Hugging Face ecosystem sees it: AutoTokenizer gives the fast tokenizer,
the model card parses with huggingface_hub and carries metrics.json's scores, and transformers' pipeline
finds the entities NerTagger finds on the same words."""

import json
import random
import warnings

import pytest
from huggingface_hub import ModelCard
from tagger_fixtures import LABELS, SYLLABLES, random_model, save_model_dir, write_tokenizer
from training_fixtures import FILLERS, TEMPLATES, synthetic_sentence
from transformers import AutoModelForTokenClassification, AutoTokenizer, PreTrainedTokenizerFast, pipeline

from vietner import NerTagger
from vietner.model_card import build_card
from vietner.settings import ModelSettings, Preprocessing


@pytest.fixture
def run(trained_softmax, long_corpus):
    """The session's softmax run (conftest.py) and its corpus."""
    return trained_softmax, long_corpus


def test_train_py_model_dir_loads_fast_and_its_card_carries_metrics_json(run):
    out, _ = run
    model_dir = out / "model"
    assert isinstance(AutoTokenizer.from_pretrained(str(model_dir)), PreTrainedTokenizerFast)
    config = AutoModelForTokenClassification.from_pretrained(str(model_dir)).config
    assert config.id2label[0] == "O" and {label: i for i, label in config.id2label.items()} == config.label2id

    metrics = json.loads((out / "metrics.json").read_text())
    card = ModelCard.load(str(model_dir / "README.md"))
    assert card.data.language == ["vi"] and card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "token-classification"
    result = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert result["f1"] == metrics["test"]["strict"]["overall"]["f1"]
    assert result["precision"] == metrics["test"]["strict"]["overall"]["precision"]
    # the body: scratch warning, labels, each source's counts, per-type scores with an interval
    assert "no measure" in card.text.lower() or "say nothing about PhoBERT" in card.text
    for row in metrics["sources"]:
        assert f"| {row['split']} | `{row['source']}` | `{row['path']}` | {row['sentences']} | {row['entities']} |" in card.text
    for kind, row in metrics["test"]["strict"]["per_type"].items():
        low, high = metrics["test_bootstrap"]["types"][kind]["low"], metrics["test_bootstrap"]["types"][kind]["high"]
        assert f"| {kind} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {low:.3f}-{high:.3f} |" in card.text
    assert 'aggregation_strategy="first"' in card.text and "NerTagger.from_pretrained" in card.text
    assert "base_model" not in card.data.to_dict()  # a scratch model has none


def test_card_of_a_model_whose_test_split_is_not_scored_yet_parses():
    settings = ModelSettings(labels=LABELS, preprocessing=Preprocessing(), head="crf", base_model="vinai/phobert-base")
    text = build_card({"model": "vinai/phobert-base", "test": None}, settings, "stage-1")
    card = ModelCard(text)
    assert card.data.base_model == "vinai/phobert-base" and not card.data.eval_results
    assert "not been scored" in card.text and "CRF head" in card.text and "say nothing" not in card.text


def nertagger_entities(tagger, sentences):
    """Each sentence as the word-segmented text NerTagger's model reads, and NerTagger's entities in it as
    character spans of that text."""
    texts, found = [], []
    predictions = tagger.predict_tokens(sentences)
    for syllables, prediction in zip(sentences, predictions):
        words = tagger.predictor.preprocessor.word_strings(syllables, prediction.words)
        starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        word_of = {a: i for i, (a, _) in enumerate(prediction.words)}
        last_of = {b: i for i, (_, b) in enumerate(prediction.words)}
        spans = {(starts[word_of[e.start]], starts[last_of[e.end]] + len(words[last_of[e.end]]), e.label) for e in prediction.entities}
        texts.append(" ".join(words))
        found.append(spans)
    return texts, found


def pipeline_entities(model_dir, texts):
    ner = pipeline("token-classification", model=str(model_dir), aggregation_strategy="first")
    with warnings.catch_warnings():  # "Tokenizer does not support real words": PhoBERT's words are space-separated
        warnings.simplefilter("ignore")
        return [{(e["start"], e["end"], e["entity_group"]) for e in ner(text)} for text in texts]


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory):
    synthetic = [w for t in TEMPLATES for w in t.split() if "{" not in w] + [w for names in FILLERS.values() for n in names for w in n.split()]
    tokenizer = write_tokenizer(SYLLABLES + synthetic + ["Hà_Nội", "Việt_Nam"], tmp_path_factory.mktemp("tokenizer"))
    return save_model_dir(tmp_path_factory.mktemp("model"), random_model(tokenizer, max_length=256), tokenizer, max_length=256)


def test_pipeline_finds_the_entities_nertagger_finds(random_dir):
    rng = random.Random(3)
    sentences = [[rng.choice(SYLLABLES) for _ in range(rng.randint(1, 40))] for _ in range(40)]
    sentences += [list(synthetic_sentence(rng, str(i)).tokens) for i in range(20)]
    tagger = NerTagger.from_pretrained(random_dir)
    assert tagger.tokenizer.is_fast
    texts, expected = nertagger_entities(tagger, sentences)
    # transformers' pipeline makes an <unk> piece a word of its own (the card says so): compare the sentences
    # whose words the vocabulary spells without one.
    known = [i for i, text in enumerate(texts) if tagger.tokenizer.unk_token_id not in tagger.tokenizer(text)["input_ids"]]
    assert len(known) >= 55
    texts, expected = [texts[i] for i in known], [expected[i] for i in known]
    assert sum(map(len, expected)) > 50  # a random model tags plenty: the comparison has entities to compare
    assert pipeline_entities(random_dir, texts) == expected


def test_pipeline_on_a_trained_model_agrees_with_nertagger(run):
    out, files = run
    from vietner.corpus import read_conll

    # The short sentences: the pipeline reads one window of the model's 64 positions.
    sentences = [list(s.tokens) for s in read_conll(files["test"]) if len(s.tokens) < 30]
    tagger = NerTagger.from_pretrained(out / "model")
    texts, expected = nertagger_entities(tagger, sentences)
    assert any(expected)
    assert not any(tagger.tokenizer.unk_token_id in tagger.tokenizer(text)["input_ids"] for text in texts)
    assert pipeline_entities(out / "model", texts) == expected
