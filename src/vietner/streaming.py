"""Streaming prediction of raw texts, with the preprocessing optionally in worker processes.

Texts are grouped into chunks of at most ``CHUNK_DOCUMENTS`` documents and about ``CHUNK_CHARACTERS``
characters. The grouping depends on the texts alone, so the model's batches, and so every bit of the output,
are the same whatever the number of workers. A chunk's preprocessing (:func:`vietner.text.syllable_sentences`,
then :meth:`vietner.encoding.Preprocessor.prepare_many` for all the chunk's sentences at once: normalization,
segmentation, subwords, windows) runs in the caller's process (``num_workers=0``) or in a worker process started with ``spawn`` (a
JVM-based segmenter starts its own JVM in each worker); the caller's process runs the model on the chunks in
input order while the workers prepare the next ones. At most ``max_in_flight`` chunks are submitted and not
yet yielded, so memory stays bounded however long the input is.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Generic, TypeVar

import torch

from .predictor import Predictor, SentencePrediction
from .text import TextSpan
from .workers import PreparedText, prepare_chunk, prepare_texts, start_worker

__all__ = ["CHUNK_DOCUMENTS", "CHUNK_CHARACTERS", "TaggedText", "TextPipeline", "default_workers"]

# Big enough to fill sorted batches of 32 windows, small enough that a chunk is a fraction of a second of
# preprocessing, so workers take turns evenly and few documents wait in memory.
CHUNK_DOCUMENTS = 64
CHUNK_CHARACTERS = 16_000
# Below this many characters starting workers (each imports torch and loads the segmenter: seconds) costs
# more than it saves.
AUTO_WORKERS_CHARACTERS = 2_000_000

T = TypeVar("T")
# One text's sentences (syllable spans into the text) with their predictions.
TaggedText = list[tuple[list[TextSpan], SentencePrediction]]


def default_workers(characters: int, processes: int = 1) -> int:
    """Workers worth starting for ``characters`` of text: none for small inputs or a single core, else the
    cores this process may use, shared among ``processes`` (accelerate's)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    share = cores // max(1, processes)
    return 0 if share < 2 or characters < AUTO_WORKERS_CHARACTERS else share


class _Ready(Generic[T]):
    """A result computed in the caller's process, with a future's ``result()``."""

    def __init__(self, value: T) -> None:
        self.value = value

    def result(self) -> T:
        return self.value


def _chunks(items: Iterator[T], text: Callable[[T], str]) -> Iterator[list[T]]:
    """Group ``items`` into chunks of at most CHUNK_DOCUMENTS documents and about CHUNK_CHARACTERS characters."""
    chunk: list[T] = []
    characters = 0
    for item in items:
        chunk.append(item)
        characters += len(text(item))
        if len(chunk) >= CHUNK_DOCUMENTS or characters >= CHUNK_CHARACTERS:
            yield chunk
            chunk, characters = [], 0
    if chunk:
        yield chunk


class TextPipeline:
    """Tag a stream of texts with ``predictor``, the preprocessing in ``num_workers`` processes (0: in this
    one). Use it as a context manager (the workers stop at its end) and call :meth:`stream` once or more."""

    def __init__(
        self,
        predictor: Predictor,
        num_workers: int = 0,
        batch_size: int = 32,
        max_tokens: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        """``max_in_flight``: chunks submitted and not yet yielded (default: two per worker, one in-process)."""
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, not {num_workers!r}")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive integer or None, not {max_tokens!r}")
        self.predictor = predictor
        self.num_workers = num_workers
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.max_in_flight = max_in_flight or max(1, 2 * num_workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> TextPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (unfinished chunks are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, texts: list[str]) -> Future | _Ready:
        if self.num_workers == 0:
            return _Ready(prepare_texts(self.predictor.preprocessor, texts))
        if self._pool is None:
            preprocessor = self.predictor.preprocessor
            self._pool = ProcessPoolExecutor(
                self.num_workers,
                # spawn, never fork: a forked JVM (rdrsegmenter) or torch thread pool is unusable in the child.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(preprocessor.tokenizer, preprocessor.settings, preprocessor.segmenter),
            )
        return self._pool.submit(prepare_chunk, texts)

    def stream(self, items: Iterable[T], text: Callable[[T], str] = lambda item: item) -> Iterator[tuple[T, TaggedText]]:
        """Yield ``(item, tagged text)`` for each item, in input order; ``text(item)`` is the text to tag.
        Items are read lazily: at most ``max_in_flight`` chunks are held at a time."""
        pending: deque[tuple[list[T], Future | _Ready]] = deque()
        threads = torch.get_num_threads()
        if self.num_workers:
            # The workers keep cores busy: torch threads in this process beyond the cores left would only
            # steal time from them.
            torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - self.num_workers)))
        try:
            for chunk in _chunks(iter(items), text):
                pending.append((chunk, self._submit([text(item) for item in chunk])))
                if len(pending) >= self.max_in_flight:
                    yield from self._tag(*pending.popleft())
            while pending:
                yield from self._tag(*pending.popleft())
        finally:
            torch.set_num_threads(threads)

    def _tag(self, chunk: list[T], future: Future | _Ready) -> Iterator[tuple[T, TaggedText]]:
        """Run the model on a chunk's prepared sentences, all documents' together, and split them back."""
        prepared: list[PreparedText] = future.result()
        flat = [encoded for _, sentences in prepared for encoded in sentences]
        predictions = iter(self.predictor.predict_prepared(flat, self.batch_size, self.max_tokens))
        for item, (sentences, _) in zip(chunk, prepared):
            yield item, [(sentence, next(predictions)) for sentence in sentences]
