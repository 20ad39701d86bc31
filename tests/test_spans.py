"""The one entity vocabulary: tags -> spans -> tags, token spans <-> character entities, one markup."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from vietner.spans import Entity, Span, entities, mark, to_entity, to_tags

TAGS = st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=12)


@given(TAGS)
def test_default_mode_reads_tags_as_seqeval_does(tags):
    assert [(s.label, s.start, s.end - 1) for s in entities(tags)] == sorted(get_entities(tags), key=lambda e: (e[1], e[2]))


@given(TAGS)
def test_tags_written_from_spans_read_back_as_the_same_spans(tags):
    for mode in ("strict", "default"):
        spans = entities(tags, mode)
        assert entities(to_tags(spans, len(tags)), "strict") == spans


def test_strict_mode_drops_a_stray_inside_tag_that_default_mode_opens():
    assert entities(["I-LOC", "I-LOC", "O", "B-PER"], "strict") == [Span("PER", 3, 4)]
    assert entities(["I-LOC", "I-LOC", "O", "B-PER"], "default") == [Span("LOC", 0, 2), Span("PER", 3, 4)]
    with pytest.raises(ValueError, match="unknown mode"):
        entities(["O"], "lenient")


def test_to_tags_keeps_the_first_of_overlapping_spans():
    assert to_tags([Span("LOC", 1, 3), Span("PER", 0, 2)], 4) == ["B-PER", "I-PER", "O", "O"]


def test_a_token_span_becomes_the_character_entity_of_its_tokens():
    text = "Ông An đến Hà Nội."
    offsets = [(0, 3), (4, 6), (7, 10), (11, 13), (14, 17), (17, 18)]
    entity = to_entity(Span("LOC", 3, 5, 0.9), offsets, text)
    assert entity == Entity(11, 17, "LOC", "Hà Nội", 0.9)
    assert text[entity.start : entity.end] == entity.text


def test_mark_writes_markup_from_characters_or_tokens_and_escapes_for_html():
    text = "Ông An đến Hà Nội <3."
    offsets = [(0, 3), (4, 6), (7, 10), (11, 13), (14, 17), (18, 20), (20, 21)]
    by_chars = mark(text, [Entity(11, 17, "LOC", "Hà Nội"), Entity(4, 6, "PER", "An")])
    by_tokens = mark(text, [Span("PER", 1, 2), Span("LOC", 3, 5)], offsets)
    assert by_chars == by_tokens == "Ông [PER An] đến [LOC Hà Nội] <3."
    # Overlapping entities: the first is kept.
    assert mark(text, [Span("LOC", 3, 5), Span("ORG", 4, 6)], offsets) == "Ông An đến [LOC Hà Nội] <3."
    rendered = mark(text, [Span("LOC", 3, 5)], offsets, render=lambda label, inner: f"<b>{inner}</b>", escape=html.escape)
    assert rendered == "Ông An đến <b>Hà Nội</b> &lt;3."
