"""What the data means, in one place: the entity types, label lists, IOB tag rules and the text's Unicode form.

Every other module takes these from here. Label sets are always derived from the data and model at hand
(a user's corpus may have ten types, or three); ``DEFAULT_TYPES`` is only the project corpus's set, used
where its annotation rules apply (its validator, its data card, its markup).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

__all__ = [
    "DEFAULT_TYPES",
    "nfc",
    "entity_type",
    "labels_for",
    "types_of",
    "SCHEMES",
    "check_scheme",
    "iob1_to_iob2",
    "iob2_problem",
    "check_labels",
    "parse_label_map",
    "check_label_map",
    "map_tags",
]

# The project corpus's five types (data/GUIDELINES.md), in the order its tables list them.
DEFAULT_TYPES = ("PER", "ORG", "LOC", "MONEY", "DATE")
# The tagging schemes files are read in; everything is IOB2 once read.
SCHEMES = ("IOB1", "IOB2")


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC, the form the gold data, the segmenters and the vocabularies use."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def entity_type(tag: str) -> str | None:
    """Return the type of an IOB tag (``B-LOC`` -> ``LOC``), or None for ``O`` and anything else."""
    return tag[2:] if tag[:2] in ("B-", "I-") and len(tag) > 2 else None


def labels_for(types: Iterable[str]) -> list[str]:
    """Return the label list of a model that tags ``types``: ``O``, then ``B-`` and ``I-`` of each type, types
    sorted. This is the one label list: ``train.py`` builds a model's labels with it from the training split's
    types (:func:`vietner.sources.training_types`). Every type gets both labels, whether or not the data
    holds an ``I-`` of it, so a model can tag an entity of any length; sorted, so the same types always give
    the same label ids."""
    return ["O"] + [f"{prefix}{t}" for t in sorted(set(types)) for prefix in ("B-", "I-")]


def types_of(tags: Iterable[str]) -> list[str]:
    """Return the entity types named by ``tags`` (labels or tags of any sentences), in the order of
    ``DEFAULT_TYPES`` first and then alphabetically."""
    found = {t for t in map(entity_type, tags) if t}
    return [t for t in DEFAULT_TYPES if t in found] + sorted(found - set(DEFAULT_TYPES))


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` in upper case; raise ``ValueError`` unless it is one of :data:`SCHEMES`."""
    if not isinstance(scheme, str) or scheme.upper() not in SCHEMES:
        raise ValueError(f"scheme must be IOB1 or IOB2, not {scheme!r}")
    return scheme.upper()


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Return ``tags`` with every entity opened by ``B-``: an ``I-X`` that does not continue an ``X`` becomes
    ``B-X``. This is how IOB1 files are read, and how a model's stray ``I-`` is read (seqeval's default
    mode, ``predict()``): the entities stay the same, the tags become valid IOB2."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def iob2_problem(tag: str, previous: str) -> str | None:
    """Return what is wrong with ``tag`` after ``previous`` in an IOB2 sequence, or None when it is valid.

    Valid tags are ``O``, ``B-TYPE`` and ``I-TYPE``; an ``I-TYPE`` must follow ``B-TYPE`` or ``I-TYPE``.
    """
    if tag != "O" and (tag[:2] not in ("B-", "I-") or len(tag) < 3 or any(c.isspace() for c in tag)):
        return f"tag {tag!r} is not O, B-TYPE or I-TYPE"
    if tag.startswith("I-") and previous[2:] != tag[2:]:
        return f"{tag} follows {previous}, not B-{tag[2:]} or I-{tag[2:]} (broken IOB2)"
    return None


def check_labels(labels: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``labels`` is an IOB2 label list: ``O`` and ``B-``/``I-`` labels."""
    for label in labels:
        if label != "O" and entity_type(label) is None:
            raise ValueError(f"label {label!r} is not IOB2 (O, B-TYPE, I-TYPE)")


def parse_label_map(text: str) -> dict[str, str]:
    """Read ``"NAME=PER,LOCATION=LOC"`` (the command-line form of a label map) into a mapping.

    Raises ``ValueError`` naming the piece that is not ``SOURCE=TARGET``."""
    mapping: dict[str, str] = {}
    for piece in filter(None, (p.strip() for p in text.split(","))):
        source, sep, target = piece.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"label map entry {piece!r} must look like SOURCE=TARGET (e.g. NAME=PER)")
        mapping[source.strip()] = target.strip()
    return mapping


def check_label_map(label_map: dict[str, str]) -> None:
    """Raise ``ValueError`` naming the first entry that is not ``TYPE: TYPE`` (or ``TYPE: O`` to drop it)."""
    for source, target in label_map.items():
        for name in (source, target):
            if not name or any(c.isspace() for c in name) or name[:2] in ("B-", "I-"):
                raise ValueError(f"label map entry {source!r}: {target!r}: give entity types (NAME: PER), not tags")
        if source == "O":
            raise ValueError("label map entry 'O' cannot be mapped: O is no entity type")


def map_tags(tags: Sequence[str], label_map: dict[str, str]) -> list[str]:
    """Return IOB2 ``tags`` with each entity's type renamed by ``label_map``; a type the map does not name
    (or maps to ``O``) becomes ``O``. Entities keep their ``B-``, so two that touch stay two."""
    out = []
    for tag in tags:
        kind = entity_type(tag)
        target = label_map.get(kind, "O") if kind else "O"
        out.append("O" if target == "O" else f"{tag[:2]}{target}")
    return out
