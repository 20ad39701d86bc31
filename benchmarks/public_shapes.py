"""Write the gold training articles in the shapes public corpora ship, for pooling runs and checks.

    python benchmarks/public_shapes.py OUT_DIR [--overwrite]

From the sentences of the ``train`` split (``data/splits.json``), words found by the ``underthesea``
segmenter (split at gold entity boundaries, so each word lies in one entity or none) are written as:

- ``words.conll``: PhoNER_COVID19's ``word/`` layout, ``Hà_Nội B-LOC``, space-separated;
- ``words_tab.conll``: VLSP 2016's layout, ``Hà Nội<TAB>N<TAB>B-NP<TAB>B-LOC``, a word's syllables
  joined by a space;
- ``nested.conll``: VLSP 2018's layout, ``token<TAB>level-1<TAB>level-2<TAB>level-3`` with its type
  names (PERSON, ORGANIZATION, LOCATION, MONEY, DATETIME): level 1 holds every gold entity, level 2 the
  locations only, level 3 the organizations of every tenth sentence.

Each file is read back with ``vietner.formats.read_source`` (``tokens: auto``; ``tag_column: 1``) and
checked to give the gold syllables and tags again; the script prints what it wrote.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vietner.config import ReadOptions  # noqa: E402
from vietner.corpus import Sentence, atomic_write_text, read_corpus  # noqa: E402
from vietner.formats import read_source  # noqa: E402
from vietner.schema import map_tags  # noqa: E402
from vietner.segment import get_segmenter, split_at_entity_boundaries  # noqa: E402

VLSP2018_NAMES = {"PER": "PERSON", "ORG": "ORGANIZATION", "LOC": "LOCATION", "MONEY": "MONEY", "DATE": "DATETIME"}


def words(sentence: Sentence, segmenter) -> list[tuple[list[str], str]]:
    """The sentence's words (syllables, the first syllable's tag), never across an entity boundary."""
    spans = split_at_entity_boundaries(segmenter.words(list(sentence.tokens)), sentence.tags)
    return [(list(sentence.tokens[a:b]), sentence.tags[a]) for a, b in spans]


def write_shapes(sentences: list[Sentence], out: Path, overwrite: bool) -> dict[str, Path]:
    """Write the three files into ``out``; return their paths by name."""
    segmenter = get_segmenter("underthesea")
    segmented = [words(s, segmenter) for s in sentences]
    blocks = {
        "words": ["\n".join(f"{'_'.join(w)} {t}" for w, t in s) for s in segmented],
        "words_tab": ["\n".join(f"{' '.join(w)}\tN\tB-NP\t{t}" for w, t in s) for s in segmented],
        "nested": [],
    }
    for i, s in enumerate(sentences):
        level1 = map_tags(s.tags, VLSP2018_NAMES)
        level2 = map_tags(s.tags, {"LOC": "LOCATION"})
        level3 = map_tags(s.tags, {"ORG": "ORGANIZATION"}) if i % 10 == 0 else ["O"] * len(s.tags)
        blocks["nested"].append("\n".join("\t".join(row) for row in zip(s.tokens, level1, level2, level3)))
    paths = {}
    for name, text in blocks.items():
        paths[name] = out / f"{name}.conll"
        atomic_write_text(paths[name], "\n\n".join(text) + "\n", overwrite=overwrite)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the three files")
    parser.add_argument("--data-dir", default=str(ROOT / "data" / "annotated"))
    parser.add_argument("--splits", default=str(ROOT / "data" / "splits.json"))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    sentences = read_corpus(args.data_dir, args.splits)["train"]
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        paths = write_shapes(sentences, args.out, args.overwrite)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    gold = [(s.tokens, s.tags) for s in sentences]
    for name, path in paths.items():
        read = read_source(path, ReadOptions(tag_column=1 if name == "nested" else None))
        tags = [map_tags(s.tags, {v: k for k, v in VLSP2018_NAMES.items()}) if name == "nested" else list(s.tags) for s in read.sentences]
        same = [(s.tokens, tuple(t)) for s, t in zip(read.sentences, tags)] == gold
        print(f"{path}: {len(read.sentences)} sentences; {read.describe()}; gold syllables and tags again: {same}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
