import dataclasses
import json
import unicodedata

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tagger_fixtures import SYLLABLES, lookup_model, random_model, save_model_dir, write_tokenizer

from vietner import Entity, NerTagger
from vietner.corpus import Sentence
from vietner.encoding import WordPieces, windows
from vietner.config import Preprocessing
from vietner.text import syllable_sentences, tokenize

WORDS = SYLLABLES + ["Hà_Nội", "Việt_Nam", "Bí_thư", "Thành_ủy", "Hàn_Quốc", "Hồ_Chí_Minh", "công_ty"]
ODD = ["😀", "https://vnexpress.net/ha-noi-123.html?id=7", "서울", "Seoul", "2,34", "(", ")", ",", ".", "“", "”", "..."]
ODD += ["<s>", "</s>"]
HEADLINE = "Sáng 7/9, Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil tại Việt Nam."


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return write_tokenizer(WORDS, tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    return save_model_dir(tmp_path_factory.mktemp("model"), random_model(tokenizer), tokenizer)


@pytest.fixture(scope="module")
def tagger(model_dir):
    return NerTagger.from_pretrained(model_dir)


def check_offsets(text: str, entities: list[Entity]) -> None:
    """Entities slice ``text`` exactly, sit on syllable boundaries, and come in text order without overlap."""
    starts = {span.start for span in tokenize(text)}
    ends = {span.end for span in tokenize(text)}
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
        assert entity.start in starts and entity.end in ends, (entity, text)
        assert 0.0 < entity.score <= 1.0
    assert all(a.end <= b.start for a, b in zip(entities, entities[1:]))


def shape(entities: list[Entity]) -> list[tuple[str, str]]:
    return [(e.label, unicodedata.normalize("NFC", " ".join(e.text.split()))) for e in entities]


# ------------------------------------------------------------------------------------------- properties

separators = st.sampled_from([" ", " ", " ", "\u00a0", "\t", "  ", "\n", "\n\n\n", " \u00a0 ", "\r\n", "\u200b "])
pieces = st.lists(st.tuples(st.sampled_from(WORDS[:-7] + ODD + ["Hà", "Nội", "."]), separators), min_size=1, max_size=40)


def render(parts: list[tuple[str, str]], forms: list[bool]) -> str:
    # forms[i]: write word i decomposed (NFD); the rest stays NFC, so a text may mix both forms.
    return "".join(
        (unicodedata.normalize("NFD", word) if nfd else word) + sep for (word, sep), nfd in zip(parts, forms)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=pieces, form=st.sampled_from(["NFC", "NFD", "mixed"]), seed=st.randoms(use_true_random=False), lead=separators)
def test_offsets_slice_the_original_text(tagger, parts, form, seed, lead):
    forms = [form == "NFD" or (form == "mixed" and seed.random() < 0.5) for _ in parts]
    text = lead + render(parts, forms)
    entities = tagger.predict(text)
    check_offsets(text, entities)
    # The model saw the NFC text: the same entities, labels and scores as for the NFC input.
    nfc = unicodedata.normalize("NFC", text)
    expected = tagger.predict(nfc)
    assert shape(entities) == shape(expected)
    assert [e.score for e in entities] == pytest.approx([e.score for e in expected])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS[:-7]), min_size=1, max_size=30), data=st.data())
def test_whitespace_inside_a_line_does_not_change_predictions(tagger, words, data):
    space = st.sampled_from([" ", "\u00a0", "\t", "   ", " \t\u00a0"])
    spaces = data.draw(st.lists(space, min_size=len(words), max_size=len(words)))
    odd = "".join(w + s for w, s in zip(words, spaces))
    plain = " ".join(words)
    entities = tagger.predict(odd)
    check_offsets(odd, entities)
    assert shape(entities) == shape(tagger.predict(plain))


# ---------------------------------------------------------------------------------------- long documents


def test_5000_syllable_sentence_keeps_every_entity_whole(tmp_path, tokenizer):
    # A context-free model and no segmentation: the right tags are known word by word, so any entity cut,
    # dropped or duplicated at a window edge shows up as a difference from the expected list.
    labels = {"Hà": "B-LOC", "Nội": "I-LOC", "Đinh": "B-PER", "Tiến": "I-PER", "Dũng": "I-PER", "2023": "B-DATE"}
    model = lookup_model(tokenizer, labels, max_length=32)
    directory = save_model_dir(tmp_path / "m", model, tokenizer, segmenter="none", max_length=32, overlap=8)
    tagger = NerTagger.from_pretrained(directory)
    pattern = "ông Đinh Tiến Dũng đến Hà Nội năm 2023 và".split()  # 10 syllables, 3 entities
    text = " ".join(pattern * 500)
    offsets = tokenize(text)
    assert len(offsets) == 5000
    in_pattern = ((1, 3, "PER"), (5, 6, "LOC"), (8, 8, "DATE"))
    ranges = [(10 * i + first, 10 * i + last, label) for i in range(500) for first, last, label in in_pattern]
    expected = [(offsets[a].start, offsets[b].end, label) for a, b, label in ranges]
    entities = tagger.predict(text)
    assert [(e.start, e.end, e.label) for e in entities] == expected
    assert all(e.text == text[e.start : e.end] and e.score == pytest.approx(1.0, abs=1e-3) for e in entities)
    # Meaningful only if entities do straddle the edges between window cores: check that they do.
    counts = [len(p) for p in WordPieces(tokenizer)([s.text for s in offsets])]
    cores = [w.core_start for w in windows(counts, 32 - 2, 8)]
    assert len(cores) > 100
    assert sum(any(a < c <= b for c in cores) for a, b, _ in ranges) > 10


def test_5000_syllable_article_equals_its_paragraphs(tagger):
    paragraphs = []
    syllables = 0
    k = 0
    while syllables < 5000:
        sentence = " ".join(WORDS[(k * 7) % 60 : (k * 7) % 60 + 5 + k % 40]) + "."
        paragraphs.append(" ".join([sentence.capitalize()] * (1 + k % 3)))
        syllables += len(tokenize(paragraphs[-1]))
        k += 1
    article = "\n\n".join(paragraphs)
    assert len(tokenize(article)) >= 5000
    whole = tagger.predict(article, batch_size=7)
    check_offsets(article, whole)
    # Sentences are scattered back to the right text and place, whatever batch they were run in.
    separately = tagger.predict(paragraphs, batch_size=32)
    assert shape(whole) == [item for entities in separately for item in shape(entities)]


def test_long_sentence_goes_through_windows_with_real_segmenter(tmp_path, tokenizer):
    directory = save_model_dir(tmp_path / "m", random_model(tokenizer, max_length=24), tokenizer, max_length=24, overlap=6)
    tagger = NerTagger.from_pretrained(directory)
    text = " ".join([HEADLINE[:-1]] * 40) + " https://vnexpress.net/" + "a" * 80
    entities = tagger.predict(text)
    check_offsets(text, entities)
    assert entities


# ------------------------------------------------------------------------------------------ bad input


def test_empty_and_whitespace_texts_give_no_entities(tagger):
    assert tagger.predict([]) == []
    assert tagger.predict(["", " ", "\n\n\t\u00a0\u200b", HEADLINE])[:3] == [[], [], []]
    assert tagger.predict("") == []


def test_non_string_element_is_a_type_error_naming_its_index(tagger):
    with pytest.raises(TypeError, match=r"texts\[2\] is int"):
        tagger.predict(["Hà Nội", "", 3])
    with pytest.raises(TypeError, match=r"texts\[0\] is bytes"):
        tagger.predict([b"Ha Noi"])
    with pytest.raises(TypeError, match="string or a list of strings"):
        tagger.predict(None)
    with pytest.raises(TypeError, match="string or a list of strings"):
        tagger.predict(b"Ha Noi")


def test_bare_string_is_one_text(tagger):
    assert tagger.predict(HEADLINE) == tagger.predict([HEADLINE])[0]
    assert tagger.predict(t for t in [HEADLINE]) == tagger.predict([HEADLINE])


def test_bad_batch_size_is_a_value_error(tagger):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            tagger.predict([HEADLINE], batch_size=bad)


@pytest.mark.parametrize(
    "text",
    [
        "Tin vui 😀😀 từ Hà Nội 🎉!",
        "Xem https://vnexpress.net/ha-noi-4651234.html?utm=1&x=2 và email a.b@vn.vn nhé.",
        "The quick brown fox jumps over the lazy dog. Seoul, Korea.",
        "Bà Kang Kum-Sil (강금실) đến 서울 và Hà Nội ngày 7/9.",
        "<s> </s> <pad> <unk> @@ _ __ ... !!!",
        "x" * 500,
        "\u0301\u0300 Hà",  # combining marks with no base letter
    ],
)
def test_odd_texts_just_work(tagger, text):
    for variant in (text, unicodedata.normalize("NFD", text)):
        check_offsets(variant, tagger.predict(variant))


# ----------------------------------------------------------------------------------- loading and saving


def test_saved_then_reloaded_tagger_predicts_identically(tmp_path, tokenizer):
    model = random_model(tokenizer, seed=3)
    in_memory = NerTagger(model, tokenizer, Preprocessing(max_length=64, window_overlap=16))
    texts = [HEADLINE, unicodedata.normalize("NFD", HEADLINE) + "\n" + " ".join(WORDS), "", "Hà Nội"]
    before = in_memory.predict(texts)
    reloaded = NerTagger.from_pretrained(save_model_dir(tmp_path / "m", model, tokenizer))
    assert reloaded.predict(texts) == before
    assert any(before)


def test_missing_model_directory_and_settings_are_clear_errors(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        NerTagger.from_pretrained(tmp_path / "nope")
    (tmp_path / "bare").mkdir()
    with pytest.raises(OSError, match="vietner.json"):
        NerTagger.from_pretrained(tmp_path / "bare")


def test_device_choices(model_dir):
    assert NerTagger.from_pretrained(model_dir, device="auto").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        on_gpu = NerTagger.from_pretrained(model_dir, device="cuda").predict(HEADLINE)
        assert [(e.start, e.end, e.label) for e in on_gpu] == [(e.start, e.end, e.label) for e in NerTagger.from_pretrained(model_dir).predict(HEADLINE)]
    else:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            NerTagger.from_pretrained(model_dir, device="cuda")
    with pytest.raises(ValueError, match="device must be"):
        NerTagger.from_pretrained(model_dir, device="tpu")


def test_dynamic_int8_quantization(model_dir, tagger):
    quantized = NerTagger.from_pretrained(model_dir, quantize="dynamic-int8")
    linear_types = {type(m).__module__ for m in quantized.model.modules() if "Linear" in type(m).__name__}
    assert linear_types and all("quantized" in t for t in linear_types)
    assert not any(isinstance(m, torch.nn.Linear) for m in quantized.model.modules())
    entities = quantized.predict(HEADLINE)
    check_offsets(HEADLINE, entities)
    # int8 weights barely move this model's well-separated logits.
    assert shape(entities) == shape(tagger.predict(HEADLINE))
    with pytest.raises(ValueError, match="quantize must be"):
        NerTagger.from_pretrained(model_dir, quantize="int4")


def test_quantizing_an_in_memory_model_leaves_it_alone(tokenizer):
    model = random_model(tokenizer)
    quantized = NerTagger(model, tokenizer, quantize="dynamic-int8")
    assert isinstance(model.classifier, torch.nn.Linear)
    assert not isinstance(quantized.model.encoder.classifier, torch.nn.Linear)


def test_crf_head_is_used_when_the_settings_say_so(tmp_path, tokenizer):
    from tagger_fixtures import LABELS
    from torchcrf import CRF

    crf = CRF(len(LABELS), batch_first=True)
    with torch.no_grad():
        crf.transitions.zero_()
        crf.start_transitions.zero_()
        for i, to in enumerate(LABELS):  # forbid every I- that does not continue its own entity
            if to.startswith("I-"):
                crf.start_transitions[i] = -1e4
                for j, frm in enumerate(LABELS):
                    if frm[2:] != to[2:]:
                        crf.transitions[j, i] = -1e4
    directory = save_model_dir(tmp_path / "m", random_model(tokenizer), tokenizer, crf=crf)
    tagger = NerTagger.from_pretrained(directory)
    assert torch.equal(tagger.model.crf.transitions, crf.transitions)
    text = " ".join(WORDS) + ". " + HEADLINE  # the first sentence spans several 62-subword windows

    def broken(t: NerTagger) -> int:
        # Word tags straight from the model, before predict_tags repairs them to IOB2.
        sentences = [[span.text for span in s] for s in syllable_sentences(text)]
        _, word_tags, _ = t.predictor.decode_words(sentences, 32)
        return sum(
            tag.startswith("I-") and previous[2:] != tag[2:]
            for tags in word_tags
            for previous, tag in zip(["O"] + tags, tags)
        )

    assert broken(tagger) == 0
    # Viterbi over whole sentences: the CRF's constraints also hold across window edges; softmax breaks them.
    assert broken(NerTagger(random_model(tokenizer), tokenizer, Preprocessing(max_length=64, window_overlap=16))) > 0
    assert NerTagger.from_pretrained(directory).predict(text) == tagger.predict(text)
    check_offsets(text, tagger.predict(text))


def test_labels_must_be_iob2(tokenizer):
    model = random_model(tokenizer)
    model.config.id2label = {i: f"LABEL_{i}" for i in range(model.config.num_labels)}
    with pytest.raises(ValueError, match="not IOB2"):
        NerTagger(model, tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16))


# --------------------------------------------------------------------------- raw-text path vs gold tags


def test_raw_text_and_tokens_give_the_same_entities(tokenizer):
    # predict() on raw text (NFD here) and predict_tokens() on the same syllables run one core: same spans.
    labels = {"Hà": "B-LOC", "Nội": "I-LOC", "Đinh": "B-PER", "Tiến": "I-PER", "Dũng": "I-PER", "Kang": "I-PER"}
    tagger = NerTagger(lookup_model(tokenizer, labels), tokenizer, Preprocessing(segmenter="none", max_length=64, window_overlap=16))
    text = unicodedata.normalize("NFD", "Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.")
    tokens = [span.text for span in tokenize(unicodedata.normalize("NFC", text))]
    [prediction] = tagger.predict_tokens([tokens])
    by_text = [(e.label, e.text) for e in tagger.predict(text)]
    by_tokens = [(e.label, " ".join(tokens[e.start : e.end])) for e in prediction.entities]
    assert [(label, unicodedata.normalize("NFC", t)) for label, t in by_text] == by_tokens
    # The stray I-PER on "Kang" opens an entity, as seqeval's default mode reads it; the tags say so in IOB2.
    assert by_tokens == [("LOC", "Hà Nội"), ("PER", "Đinh Tiến Dũng"), ("PER", "Kang")]
    assert prediction.tags[tokens.index("Kang")] == "B-PER"


def test_a_model_trained_with_rdrsegmenter_is_served_with_it(tmp_path, tokenizer):
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Java runtime not found: apt-get install default-jre-headless")
    model = lookup_model(tokenizer, {"Hà_Nội": "B-LOC", "Việt_Nam": "B-LOC"})
    tagger = NerTagger.from_pretrained(save_model_dir(tmp_path / "m", model, tokenizer, segmenter="rdrsegmenter"))
    assert tagger.predictor.preprocessor.segmenter.name == "rdrsegmenter"
    nfc = "Bí thư Thành ủy Hà Nội tiếp đoàn Việt Nam, hòa bình và thủy sản."
    for text in (nfc, unicodedata.normalize("NFD", nfc), nfc.replace("ủy", "uỷ").replace("hòa", "hoà")):
        entities = tagger.predict(text)
        check_offsets(text, entities)
        assert [(e.label, unicodedata.normalize("NFC", e.text)) for e in entities] == [("LOC", "Hà Nội"), ("LOC", "Việt Nam")]
