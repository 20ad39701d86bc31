import importlib.util
import multiprocessing
import pickle
import shutil
import sys
import unicodedata
from pathlib import Path

import pytest

import vietner.segment
from vietner.corpus import read_conll
from vietner.schema import nfc
from vietner.segment import (
    RDRSegmenter,
    SyllableSegmenter,
    get_segmenter,
    join_word,
    split_at_entity_boundaries,
    syllable_tags,
    word_tags,
)
from vietner.text import normalize_tone_placement, tokenize


def tokens(text: str) -> list[str]:
    return [span.text for span in tokenize(text)]


CORPUS = sorted((Path(__file__).parent.parent / "data" / "annotated").glob("*.conll"))


@pytest.fixture(scope="module")
def underthesea():
    return get_segmenter("underthesea")


def test_underthesea_groups_syllables_into_words(underthesea):
    syllables = tokens("Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.")
    words = [join_word(syllables[a:b]) for a, b in underthesea.words(syllables)]
    assert "Hà_Nội" in words and "Bí_thư" in words
    assert "".join(w.replace("_", "") for w in words) == "".join(syllables)


def test_spans_cover_every_syllable_once(underthesea):
    syllables = tokens("Hoà Bình 20-22/11/2019 https://a.vn/x?y=1 😀 서울 Seoul, 2,34 tỷ USD")
    spans = underthesea.words(syllables)
    assert [i for a, b in spans for i in range(a, b)] == list(range(len(syllables)))


def test_numbers_and_punctuation_are_words_of_their_own(underthesea):
    syllables = tokens("Hoà Bình 20-22/11/2019")
    words = [join_word(syllables[a:b]) for a, b in underthesea.words(syllables)]
    assert "20-22/11/2019" in words


def test_nfd_input_gives_the_words_of_nfc_input(underthesea, caplog):
    text = "Bí thư Thành ủy Hà Nội tiếp đoàn"
    nfc_words = underthesea.words(tokens(text))
    assert (0, 2) in nfc_words and (4, 6) in nfc_words  # Bí_thư, Hà_Nội
    assert underthesea.words(tokens(unicodedata.normalize("NFD", text))) == nfc_words
    assert "does not align" not in caplog.text


def test_none_segmenter_keeps_syllables():
    assert SyllableSegmenter().words(["a", "b"]) == [(0, 1), (1, 2)]


def test_unknown_segmenter_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown segmenter 'nope'"):
        get_segmenter("nope")


def test_word_crossing_entity_boundary_is_split():
    # "tiếp bà Kang" glued into one word: the PER entity starts inside it.
    tags = ["O", "O", "B-PER", "I-PER"]  # tiếp bà Kang Kum-Sil
    spans = split_at_entity_boundaries([(0, 3), (3, 4)], tags)
    assert spans == [(0, 2), (2, 3), (3, 4)]
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_adjacent_entities_in_one_word_are_split():
    tags = ["B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG"]  # Hà Nội Đinh Dũng UBND
    spans = split_at_entity_boundaries([(0, 5)], tags)
    assert spans == [(0, 2), (2, 4), (4, 5)]
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_no_gold_entity_lost_on_real_segmentation(underthesea):
    syllables = tokens("Sáng 7/9, Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil tại Việt Nam.")
    tags = ["O"] * len(syllables)
    for start, end, label in [(1, 2, "DATE"), (5, 7, "ORG"), (7, 9, "LOC"), (9, 12, "PER"), (14, 16, "PER"), (17, 19, "LOC")]:
        tags[start] = "B-" + label
        for i in range(start + 1, end):
            tags[i] = "I-" + label
    spans = split_at_entity_boundaries(underthesea.words(syllables), tags)
    assert syllable_tags(spans, word_tags(spans, tags)) == tags


def test_underscore_inside_a_syllable_keeps_alignment(underthesea, caplog):
    syllables = ["bởi", "bngoc_022", "Hà", "Nội"]
    spans = underthesea.words(syllables)
    assert "does not align" not in caplog.text
    assert [join_word(syllables[a:b]) for a, b in spans][-1] == "Hà_Nội"


# ---- RDRSegmenter (Java, through jpype1 and the python-rdrsegmenter wheel) --------------------------------


@pytest.fixture(scope="module")
def rdrsegmenter():
    # Only a missing Java skips: jpype1 and the wheel come with the dev extras, so their absence is a failure.
    if shutil.which("java") is None:
        pytest.skip("Java runtime not found: apt-get install default-jre-headless")
    return get_segmenter("rdrsegmenter")


@pytest.fixture(scope="module")
def rdr_jar(rdrsegmenter):
    """The jar's WordSegmenter called directly, without vietner in between."""
    import jpype

    folder = Path(importlib.util.find_spec("python_rdrsegmenter").submodule_search_locations[0])
    if not jpype.isJVMStarted():
        jpype.startJVM(classpath=[str(folder / "rdrsegmenter.jar")])
    vocabulary = jpype.JClass("corenlp.rdrsegmenter.Vocabulary")(str(folder / "vi-vocab"))
    return jpype.JClass("corenlp.rdrsegmenter.WordSegmenter")(str(folder / "wordsegmenter.rdr"), vocabulary)


def test_rdrsegmenter_joins_words_offline(rdrsegmenter):
    text = "Ông Nguyễn Văn A, Ủy viên Bộ Chính trị, Bí thư Thành ủy Hà Nội tiếp bà Kang Kum-Sil."
    syllables = tokens(text)
    words = [join_word(syllables[a:b]) for a, b in rdrsegmenter.words(syllables)]
    assert {"Nguyễn_Văn_A", "Ủy_viên", "Bộ_Chính_trị", "Bí_thư", "Thành_ủy", "Hà_Nội"} <= set(words)
    # RDRSegmenter's own output respells tones the way PhoBERT's text does.
    assert "Uỷ_viên Bộ_Chính_trị , Bí_thư Thành_uỷ" in rdrsegmenter.segment(syllables)


def test_vncorenlp_is_rdrsegmenter(rdrsegmenter):
    assert isinstance(get_segmenter("vncorenlp"), RDRSegmenter)


def test_rdrsegmenter_nfd_input_gives_the_words_of_nfc_input(rdrsegmenter):
    text = "Bí thư Thành ủy Hà Nội"
    assert rdrsegmenter.words(tokens(unicodedata.normalize("NFD", text))) == rdrsegmenter.words(tokens(text)) == [
        (0, 2), (2, 4), (4, 6)
    ]


def test_rdrsegmenter_matches_the_jar_on_every_corpus_sentence(rdrsegmenter, rdr_jar):
    sentences = [sentence for path in CORPUS for sentence in read_conll(path)]
    assert len(sentences) > 200
    for sentence in sentences:
        syllables = sentence.tokens
        ours = [normalize_tone_placement(join_word(syllables[a:b])) for a, b in rdrsegmenter.words(syllables)]
        theirs = str(rdr_jar.segmentTokenizedString(" ".join(nfc(s) for s in syllables))).split()
        assert ours == theirs, sentence.sent_id


def _spawned_words(segmenter: RDRSegmenter, syllables: list[str]) -> list[tuple[int, int]]:
    return segmenter.words(syllables)


def test_rdrsegmenter_pickles_before_first_use_and_works_in_a_spawned_worker(rdrsegmenter, tmp_path, monkeypatch):
    fresh = get_segmenter("rdrsegmenter")
    # Plain settings only: no JVM object travels to a worker.
    assert all(isinstance(value, str) for value in vars(pickle.loads(pickle.dumps(fresh))).values())
    syllables = tokens("Bí thư Thành ủy Hà Nội")
    monkeypatch.chdir(tmp_path)  # where a crashing worker's JVM would write hs_err_pid*.log
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_spawned_words, (fresh, syllables)) == rdrsegmenter.words(syllables)
    # Leaving the block terminates the worker (SIGTERM): it must die quietly, not crash in the JVM.
    assert not list(tmp_path.glob("hs_err_pid*.log"))
    assert pickle.loads(pickle.dumps(rdrsegmenter)).words(syllables) == rdrsegmenter.words(syllables)


def _jvm_arguments(segmenter: RDRSegmenter) -> list[str]:
    import jpype

    segmenter.words(["Hà", "Nội"])
    return [str(a) for a in jpype.JClass("java.lang.management.ManagementFactory").getRuntimeMXBean().getInputArguments()]


def test_rdrsegmenter_starts_its_jvm_with_the_jit_options_then_the_users(rdrsegmenter):
    # In a fresh process: this one's JVM may have been started by another test.
    fresh = get_segmenter("rdrsegmenter", jvm_options="-Xmx512m -XX:PerMethodTrapLimit=100")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        arguments = pool.apply(_jvm_arguments, (fresh,))
    ours = [a for a in arguments if a in (*vietner.segment.JIT_OPTIONS, "-Xmx512m", "-XX:PerMethodTrapLimit=100")]
    # The user's options come last, so where both set a flag the user's wins.
    assert ours == [*vietner.segment.JIT_OPTIONS, "-Xmx512m", "-XX:PerMethodTrapLimit=100"]


def test_rdrsegmenter_warm_up_segments_new_sentences_from_the_given_bigrams(rdrsegmenter, monkeypatch):
    given = [["Sáng", "nay", "tại", "Hà", "Nội", "."], ["Tại", "Hà", "Nội", ",", "trời", "mưa", "."]]
    bigrams = {pair for s in given for pair in zip([None, *s], [*s, None])}
    batches: list[list[list[str]]] = []
    monkeypatch.setattr(vietner.segment, "JVM_WARM_UP_SYLLABLES", 2000)
    monkeypatch.setattr(rdrsegmenter, "segment_many", lambda sentences: batches.append(list(sentences)) or [])
    rdrsegmenter.warm_up([*given, []])  # an empty sentence adds nothing
    drawn = [s for batch in batches for s in batch]
    assert all(len(batch) <= 100 for batch in batches)
    assert 2000 <= sum(map(len, drawn)) < 2000 + 80
    assert all(pair in bigrams for s in drawn for pair in zip([None, *s], [*s, None]))
    # New sentences, not only the given ones: the two walks that cross from one sentence into the other.
    assert {("Sáng", "nay", "tại", "Hà", "Nội", ",", "trời", "mưa", "."), ("Tại", "Hà", "Nội", ".")} <= {tuple(s) for s in drawn}


def test_rdrsegmenter_warm_up_refuses_one_flat_sentence(rdrsegmenter):
    # A list of syllables is a sequence of sequences too: walked as sentences, it would warm up on letters.
    with pytest.raises(TypeError, match="sentences"):
        rdrsegmenter.warm_up(["Hà", "Nội", "."])


def test_rdrsegmenter_refuses_a_jvm_inherited_through_fork(rdrsegmenter, monkeypatch):
    rdrsegmenter.words(["Hà", "Nội"])
    monkeypatch.setattr(vietner.segment, "_JVM_PID", -1)
    with pytest.raises(RuntimeError, match="forked"):
        rdrsegmenter.words(["Hà", "Nội"])


def _one_line_error(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_rdrsegmenter_without_jpype_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jpype", None)
    with pytest.raises(ImportError) as error:
        get_segmenter("rdrsegmenter")
    assert "jpype1" in _one_line_error(error) and "pip install" in str(error.value)


def test_rdrsegmenter_without_the_wheel_says_what_to_install(monkeypatch):
    find_spec = importlib.util.find_spec
    def no_wheel(name: str, *args):
        return None if name == "python_rdrsegmenter" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_wheel)
    with pytest.raises(ImportError) as error:
        get_segmenter("rdrsegmenter")
    assert "python-rdrsegmenter" in _one_line_error(error) and "pip install" in str(error.value)


def test_rdrsegmenter_without_java_says_what_to_install(monkeypatch):
    import jpype

    def no_jvm() -> str:
        raise jpype.JVMNotFoundException("no JVM")

    monkeypatch.setattr(jpype, "getDefaultJVMPath", no_jvm)
    with pytest.raises(RuntimeError) as error:
        get_segmenter("rdrsegmenter")
    assert "apt-get install default-jre-headless" in _one_line_error(error)


def test_rdrsegmenter_dir_without_its_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="rdrsegmenter.jar, wordsegmenter.rdr, vi-vocab not found"):
        get_segmenter("rdrsegmenter", rdrsegmenter_dir=str(tmp_path))


def test_options_a_segmenter_does_not_take_are_ignored():
    segmenter = get_segmenter("none", rdrsegmenter_dir="/nowhere", jvm_path=None, jvm_options="-Xmx1g")
    assert isinstance(segmenter, SyllableSegmenter)
