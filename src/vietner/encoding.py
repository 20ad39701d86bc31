"""Turn words into PhoBERT inputs: word-by-word subword alignment and windows under the 256-token limit.

Alignment is done by tokenizing each word on its own (PhoBERT's BPE splits on whitespace, so this equals
tokenizing the sentence), all new words of a sentence in one batch call of the fast tokenizer.
The first subword of a word carries the word's label; later subwords and the special tokens get -100.

PhoBERT's position limit is 256 tokens including ``<s>`` and ``</s>``. Longer inputs are split into windows
of whole words. For inference, windows overlap and each word is read from exactly one window, the one where
it sits in the window's core, so an entity is neither cut nor duplicated at a window edge.
"""

from __future__ import annotations

import logging
from collections import ChainMap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any

from .settings import Preprocessing
from .schema import nfc
from .segment import Segmenter, WordSpans, get_segmenter, join_word, segment_many, split_at_entity_boundaries
from .text import normalize_tone_placement

__all__ = ["IGNORE_INDEX", "Window", "WordPieces", "windows", "encode_window", "EncodedSentence", "Preprocessor"]

IGNORE_INDEX = -100
# Sentences whose segmentation a Preprocessor keeps (a few MB of spans).
WORDS_CACHE = 100_000
# Distinct syllables whose model form a Preprocessor keeps (news text has a few tens of thousands).
FORMS_CACHE = 200_000
# What a worker segments and encodes once when it starts, so the JVM's compiler has warmed up to the
# segmenter's code before the first real sentence (see Preprocessor.warm_up): news sentences written for
# this purpose, with the names, places, numbers, dates and amounts a real text has.
WARM_UP_SENTENCES = tuple(
    tuple(line.split())
    for line in (
        "Sáng 21/10 , tại Hà Nội , Bí thư Thành uỷ Đinh Tiến Dũng đã tiếp bà Kang Kum-Sil , Phó Chủ tịch tỉnh Gyeonggi ( Hàn Quốc ) , về việc thúc đẩy hợp tác phát triển trong lĩnh vực công nghệ cao và đầu tư 2,34 tỷ USD .",
        "Theo Bộ Kế hoạch và Đầu tư , trong 9 tháng đầu năm 2024 , vốn đầu tư nước ngoài vào Việt Nam đạt 24,78 tỷ USD , tăng 11,6 % so với cùng kỳ năm trước .",
        "Ông Nguyễn Văn Thành , Giám đốc Sở Giao thông vận tải TP Hồ Chí Minh , cho biết dự án cầu Thủ Thiêm 4 sẽ được khởi công vào quý II năm sau .",
        "Ngày 15/3 , Uỷ ban nhân dân tỉnh Quảng Nam tổ chức hội nghị tổng kết công tác phòng chống thiên tai với sự tham gia của hơn 200 đại biểu .",
        "Công ty cổ phần Vinamilk công bố lợi nhuận sau thuế quý III đạt 2.500 tỷ đồng , cao nhất trong ba năm qua .",
        "Trận lũ lịch sử đã làm ngập hàng nghìn ngôi nhà ở các huyện Phước Sơn , Nông Sơn và thị xã Điện Bàn .",
        "Tổng thống Mỹ Joe Biden và Chủ tịch nước Võ Văn Thưởng đã có cuộc hội đàm tại Phủ Chủ tịch chiều 10/9/2023 .",
        "Người dân ở xã Tân Phú , huyện Đồng Phú , tỉnh Bình Phước phản ánh rằng con đường này đã xuống cấp nghiêm trọng từ nhiều năm nay .",
        "Trường Đại học Bách khoa Hà Nội năm nay tuyển 7.985 sinh viên , trong đó có 120 chỉ tiêu cho chương trình đào tạo quốc tế .",
        "Giá vàng SJC hôm qua tăng thêm 500.000 đồng mỗi lượng , lên mức 88,5 triệu đồng , theo Công ty Vàng bạc đá quý Sài Gòn .",
        "Bà Lê Thị Hoà , 65 tuổi , ở phường Bến Nghé , quận 1 , kể lại rằng mỗi sáng bà đều đi bộ ra công viên Tao Đàn để tập thể dục .",
        "Ngân hàng Nhà nước Việt Nam vừa quyết định giảm lãi suất điều hành thêm 0,5 điểm phần trăm kể từ ngày 1/4 .",
        "Đội tuyển bóng đá Việt Nam của huấn luyện viên Kim Sang-sik thắng Thái Lan 2-1 trong trận chung kết tối 5/1 ở sân Rajamangala .",
        "Theo thống kê của Tổng cục Thống kê , GDP quý I tăng 5,66 % , thấp hơn mức tăng của cùng kỳ các năm 2020-2022 .",
        "Khu công nghiệp VSIP Nghệ An đã thu hút 25 dự án với tổng vốn đăng ký khoảng 1,2 tỷ USD , giải quyết việc làm cho hơn 10.000 lao động .",
    )
)
WARM_UP_TEXT = list(WARM_UP_SENTENCES[0])
logger = logging.getLogger(__name__)


class WordPieces:
    """Subword ids of words, each word tokenized on its own and cached (news text repeats its words).

    A PhoBERT tokenizer (slow or fast) encodes all new words of a call in one batch through
    :class:`vietner.tokenizer.WordEncoder`, id for id what ``PhobertTokenizer`` gives; any other tokenizer
    is asked word by word."""

    def __init__(self, tokenizer, max_pieces_per_word: int = 32, cache_size: int = 200_000, batch: bool = True) -> None:
        """``batch=False`` asks even a PhoBERT tokenizer word by word (the reference benchmarks compare with)."""
        from .tokenizer import WordEncoder, is_phobert

        self.tokenizer = tokenizer
        self.max_pieces_per_word = max_pieces_per_word
        self.cache_size = cache_size
        self._cache: dict[str, list[int]] = {}
        self.encode = WordEncoder(tokenizer) if batch and is_phobert(tokenizer) else self._one_by_one

    def _one_by_one(self, words: Sequence[str]) -> list[list[int]]:
        # split_special_tokens: "<pad>" written in a text is text, never the control id it names.
        return [self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(w, split_special_tokens=True)) for w in words]

    def __call__(self, words: Sequence[str]) -> list[list[int]]:
        """Return the subword ids of each word; an untokenizable word gets ``[unk]``."""
        cache = self._cache
        try:  # every word seen before: looked up without a Python loop
            return list(map(cache.__getitem__, words))
        except KeyError:
            pass
        new = [word for word in dict.fromkeys(words) if word not in cache]
        found = {}
        for word, ids in zip(new, self.encode(new) if new else []):
            ids = ids or [self.tokenizer.unk_token_id]
            if len(ids) > self.max_pieces_per_word:
                # Only the first subword carries the label, so dropping a very long word's tail (a URL)
                # loses no label and keeps windows from being eaten by one token.
                logger.warning("word %r has %d subwords; keeping the first %d", word[:40], len(ids), self.max_pieces_per_word)
                ids = ids[: self.max_pieces_per_word]
            found[word] = ids
            if len(cache) < self.cache_size:
                cache[word] = ids
        return list(map(ChainMap(found, cache).__getitem__, words))


@dataclass(frozen=True)
class Window:
    """Words ``[start, end)`` fed to the model together; predictions are read for words ``[core_start, core_end)``."""

    start: int
    end: int
    core_start: int
    core_end: int


def windows(piece_counts: Sequence[int], max_pieces: int, overlap: int = 0) -> list[Window]:
    """Split words with ``piece_counts`` subwords into windows of at most ``max_pieces`` subwords.

    With ``overlap`` > 0 consecutive windows share about that many subwords of context and their cores
    meet in the middle of the shared part; the cores partition all words. Every word is in some window.
    """
    if max_pieces < 1:
        raise ValueError("max_pieces must be positive")
    if any(count > max_pieces for count in piece_counts):
        raise ValueError(f"a word has more than {max_pieces} subwords; cap words with WordPieces(max_pieces_per_word=...)")
    n = len(piece_counts)
    if n == 0:
        return []
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and used + piece_counts[end] <= max_pieces:
            used += piece_counts[end]
            end += 1
        spans.append((start, end))
        if end == n:
            break
        # Step back from ``end`` by about ``overlap`` subwords of context, leaving room for word ``end`` so
        # that every window reaches past the previous one.
        next_start, shared = end, 0
        while (
            next_start - 1 > start
            and shared + piece_counts[next_start - 1] <= overlap
            and shared + piece_counts[next_start - 1] + piece_counts[end] <= max_pieces
        ):
            next_start -= 1
            shared += piece_counts[next_start]
        start = next_start
    cores = [0] + [(next_start + end) // 2 for (_, end), (next_start, _) in zip(spans, spans[1:])] + [n]
    return [Window(s, e, cores[i], cores[i + 1]) for i, (s, e) in enumerate(spans)]


def encode_window(
    pieces: Sequence[Sequence[int]],
    window: Window,
    bos_id: int,
    eos_id: int,
    labels: Sequence[int] | None = None,
) -> dict[str, list[int]]:
    """Encode the words of ``window`` as ``<s> subwords </s>``.

    Returns ``input_ids``; ``labels`` (when given: the word's label on its first subword, -100 elsewhere and
    outside the core); and ``word_starts``: the position of each core word's first subword, in order.
    """
    input_ids = [bos_id]
    label_ids = [IGNORE_INDEX]
    word_starts = []
    for word in range(window.start, window.end):
        in_core = window.core_start <= word < window.core_end
        if in_core:
            word_starts.append(len(input_ids))
        input_ids.extend(pieces[word])
        if labels is not None:
            label_ids.append(labels[word] if in_core else IGNORE_INDEX)
            label_ids.extend([IGNORE_INDEX] * (len(pieces[word]) - 1))
    input_ids.append(eos_id)
    label_ids.append(IGNORE_INDEX)
    encoded = {"input_ids": input_ids, "word_starts": word_starts}
    if labels is not None:
        encoded["labels"] = label_ids
    return encoded


def encode_windows(
    pieces: Sequence[Sequence[int]], max_pieces: int, overlap: int, bos_id: int, eos_id: int
) -> tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]:
    """The windows of a sentence's words as :class:`EncodedSentence` holds them: ``(core_start, input_ids,
    word_starts)`` each, what :func:`windows` and :func:`encode_window` give; a sentence that fits one window
    (nearly all) is built by C-level joins, without a Python loop over its words."""
    counts = list(map(len, pieces))
    if not counts or sum(counts) > max_pieces:
        return tuple(
            (window.core_start, tuple(e["input_ids"]), tuple(e["word_starts"]))
            for window in windows(counts, max_pieces, overlap)
            for e in [encode_window(pieces, window, bos_id, eos_id)]
        )
    starts = tuple(accumulate(counts[:-1], initial=1))  # <s> is position 0
    return ((0, (bos_id, *chain.from_iterable(pieces), eos_id), starts),)


@dataclass(frozen=True)
class EncodedSentence:
    """A sentence ready for the model, made without it (so a worker process can make it): its word spans,
    and per window the first core word, the input ids and the positions of the core words' first subwords."""

    words: tuple[tuple[int, int], ...]
    windows: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]


class Preprocessor:
    """A sentence's syllables -> words (the segmenter) -> subwords -> windows, as ``settings`` say.

    The one preprocessing path: training, scoring and ``NerTagger`` all go through it, so a model always
    sees its inputs made the same way. ``tokenizer`` may be set later (the scratch model learns its
    vocabulary from the words first).
    """

    def __init__(
        self, tokenizer: Any, settings: Preprocessing, segmenter: Segmenter | None = None, words_cache: int = WORDS_CACHE
    ) -> None:
        """``words_cache``: sentences whose segmentation is kept (0 for a stream of new text)."""
        self.settings = settings
        self.words_cache = words_cache
        if segmenter is None:
            segmenter = get_segmenter(settings.segmenter, **settings.segmenter_options())
        self.segmenter = segmenter
        self.tokenizer = tokenizer
        self._words: dict[tuple[str, ...], WordSpans] = {}
        # syllable -> its NFC, and -> its model form: what words() and word_strings() compute per syllable.
        self._nfcs: dict[str, str] = {}
        self._forms: dict[str, str] = {}

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.pieces = WordPieces(tokenizer, max_pieces_per_word=self.settings.max_pieces_per_word) if tokenizer else None

    def form(self, syllables: Sequence[str]) -> list[str]:
        """Return the syllables as the model reads them: NFC, tone marks placed as in PhoBERT's vocabulary
        when ``settings.normalize_tones``; the same length, so offsets hold."""
        normalized = [nfc(s) for s in syllables]
        return [normalize_tone_placement(s) for s in normalized] if self.settings.normalize_tones else normalized

    def words(self, syllables: Sequence[str], gold: Sequence[str] | None = None) -> WordSpans:
        """Return the word spans of ``syllables``; with ``gold`` tags (training), a word that crosses a gold
        entity boundary is split there, so no gold entity is lost."""
        key = tuple(syllables)
        spans = self._words.get(key)
        if spans is None:
            # Segmenters read today's spelling (underthesea splits "hoà bình", joins "hòa_bình"): tone marks
            # are respelled only in the words handed to the tokenizer.
            spans = self.segmenter.words([nfc(s) for s in syllables]) if syllables else []
            if len(self._words) < self.words_cache:  # training scores dev every epoch: segment each sentence once
                self._words[key] = spans
        return split_at_entity_boundaries(spans, gold) if gold is not None else list(spans)

    def word_strings(self, syllables: Sequence[str], spans: WordSpans) -> list[str]:
        """Return the words as the tokenizer reads them ("Hà_Nội", "Thành_uỷ")."""
        form = self.form(syllables)
        return [join_word(form[a:b]) for a, b in spans]

    def encode(
        self, syllables: Sequence[str], spans: WordSpans, word_labels: Sequence[int] | None = None
    ) -> list[tuple[Window, dict[str, list[int]]]]:
        """Return the windows of a segmented sentence with their encodings (see :func:`encode_window`)."""
        if self.pieces is None:
            raise ValueError("Preprocessor.encode needs a tokenizer")
        pieces = self.pieces(self.word_strings(syllables, spans))
        max_pieces = self.settings.max_length - 2
        out = []
        for window in windows([len(p) for p in pieces], max_pieces, self.settings.window_overlap):
            encoded = encode_window(pieces, window, self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, word_labels)
            out.append((window, encoded))
        return out

    def prepare(self, syllables: Sequence[str]) -> EncodedSentence:
        """Return the sentence segmented and encoded: everything the model stage needs, picklable."""
        spans = self.words(syllables)
        encoded = self.encode(syllables, spans)
        return EncodedSentence(
            tuple(spans),
            tuple((window.core_start, tuple(e["input_ids"]), tuple(e["word_starts"])) for window, e in encoded),
        )

    # ----------------------------------------------------------------------------------------------------
    # Many sentences at once: what prediction, streaming and training call. Each method gives, sentence by
    # sentence, exactly what its one-sentence counterpart above gives (tests/test_batched_preprocessing.py compares them);
    # the per-sentence costs (a segmenter call, a tokenizer call, per-syllable normalization) are paid once
    # per batch or once per distinct syllable instead.

    def syllable_forms(self, syllables: Sequence[str]) -> tuple[list[str], list[str]]:
        """Each syllable's NFC (what the segmenter reads) and its model form (what :meth:`word_strings` joins:
        :meth:`form`, then NFC); each distinct syllable is computed once per process."""
        nfcs, forms = self._nfcs, self._forms
        try:  # nearly always in a long run: every syllable seen before, looked up without a Python loop
            return list(map(nfcs.__getitem__, syllables)), list(map(forms.__getitem__, syllables))
        except KeyError:
            pass
        new_nfcs, new_forms = {}, {}
        for syllable in set(syllables).difference(nfcs):
            normalized = nfc(syllable)
            shaped = normalize_tone_placement(normalized) if self.settings.normalize_tones else normalized
            new_nfcs[syllable], new_forms[syllable] = normalized, nfc(shaped)
        if len(nfcs) < FORMS_CACHE:
            nfcs.update(new_nfcs)
            forms.update(new_forms)
        else:  # cache full: the new ones are used once, not kept
            nfcs, forms = ChainMap(new_nfcs, nfcs), ChainMap(new_forms, forms)
        return list(map(nfcs.__getitem__, syllables)), list(map(forms.__getitem__, syllables))

    def words_many(
        self, sentences: Sequence[Sequence[str]], golds: Sequence[Sequence[str]] | None = None
    ) -> list[WordSpans]:
        """:meth:`words` of each sentence (with ``golds``: each sentence's gold tags), segmenting the
        sentences not cached in as few segmenter calls as it allows."""
        keys = [tuple(syllables) for syllables in sentences]
        new = [key for key in dict.fromkeys(keys) if key and key not in self._words]
        found = dict(zip(new, segment_many(self.segmenter, [self.syllable_forms(key)[0] for key in new])))
        for key in new:
            if len(self._words) < self.words_cache:
                self._words[key] = found[key]
        spans = [self._words.get(key) or found.get(key) or [] for key in keys]
        if golds is None:
            return [list(s) for s in spans]
        return [split_at_entity_boundaries(s, gold) for s, gold in zip(spans, golds)]

    def word_strings_many(self, sentences: Sequence[Sequence[str]], spans: Sequence[WordSpans]) -> list[str]:
        """:meth:`word_strings` of every sentence, concatenated."""
        words: list[str] = []
        for syllables, sentence_spans in zip(sentences, spans):
            form = self.syllable_forms(syllables)[1]
            words += ["_".join(form[a:b]) for a, b in sentence_spans]
        return words

    def windows_many(self, spans: Sequence[WordSpans], pieces: Sequence[Sequence[int]]) -> list[EncodedSentence]:
        """The encoded sentences of ``spans`` from the pieces of all their words, in order."""
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        max_pieces, overlap = self.settings.max_length - 2, self.settings.window_overlap
        out, at = [], 0
        for sentence_spans in spans:
            mine = pieces[at : at + len(sentence_spans)]
            at += len(sentence_spans)
            out.append(EncodedSentence(tuple(sentence_spans), encode_windows(mine, max_pieces, overlap, bos, eos)))
        return out

    def prepare_many(self, sentences: Sequence[Sequence[str]]) -> list[EncodedSentence]:
        """:meth:`prepare` of each sentence: segmented together, all their words tokenized in one call."""
        if self.pieces is None:
            raise ValueError("Preprocessor.prepare_many needs a tokenizer")
        spans = self.words_many(sentences)
        return self.windows_many(spans, self.pieces(self.word_strings_many(sentences, spans)))

    def warm_up(self) -> None:
        """Load the segmenter (a JVM, a model) and the tokenizer and run both once over a fixed text (a
        JVM-based segmenter longer, until its code is compiled): a worker does it when it starts, so its first
        real sentences are not the slow ones. No cache is filled."""
        warm_up = getattr(self.segmenter, "warm_up", None)
        if warm_up is not None:
            warm_up(WARM_UP_SENTENCES)
        else:
            self.segmenter.words(WARM_UP_TEXT)
        if self.pieces is not None:
            self.pieces.encode(WARM_UP_TEXT)
