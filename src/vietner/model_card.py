"""The model card (``README.md`` in a model directory), in the Hugging Face format, made from the run's records.

The YAML header carries ``language: vi``, ``library_name: transformers``, ``pipeline_tag:
token-classification``, ``base_model`` (a hub id) and a ``model-index`` entry with the seqeval test scores,
so the hub and ``huggingface_hub.ModelCard`` read them; the body says what the labels are, what the model
was trained on (sentences and entities per source, label maps), the preprocessing its input needs, the
test scores per type with their bootstrap interval, how to load it (``NerTagger`` and plain transformers)
and its limits. Everything comes from ``metrics.json``'s content, ``vietner.json``'s settings and the
config; nothing is typed by hand, so the card cannot drift from the model it describes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .storage import atomic_write_text

__all__ = ["CARD_FILE", "card_metadata", "build_card", "write_card", "label_maps_of"]

CARD_FILE = "README.md"
_SCRATCH_NOTE = (
    "**This is a scratch model: PhoBERT's architecture, randomly initialized, with no pre-training and a "
    "vocabulary learned from its own training split. Its scores say nothing about PhoBERT.**"
)


def _is_hub_id(name: str | None) -> bool:
    """Whether ``name`` reads as ``owner/model`` on the hub rather than a local path."""
    return bool(name) and not os.path.isabs(str(name)) and str(name).count("/") == 1 and not Path(str(name)).exists()


def _test(metrics: Mapping[str, Any], mode: str = "strict") -> dict[str, Any] | None:
    test = metrics.get("test")
    return test[mode] if test else None


def card_metadata(metrics: Mapping[str, Any], base_model: str | None, name: str) -> dict[str, Any]:
    """The card's YAML header: the hub's fields, and a ``model-index`` entry once the test split is scored."""
    meta: dict[str, Any] = {
        "language": ["vi"],
        "library_name": "transformers",
        "pipeline_tag": "token-classification",
        "tags": ["token-classification", "ner", "vietnamese", "phobert", "vietner"],
        "metrics": ["precision", "recall", "f1"],
    }
    if _is_hub_id(base_model):
        meta["base_model"] = base_model
    test = _test(metrics)
    if test is not None:
        overall = test["overall"]
        source = next((row for row in metrics.get("sources", []) if row["split"] == "test"), {"path": "test split"})
        meta["model-index"] = [{
            "name": name,
            "results": [{
                "task": {"type": "token-classification", "name": "Named entity recognition"},
                "dataset": {"type": "conll", "name": str(source["path"]), "split": "test"},
                "metrics": [
                    {"type": kind, "value": float(overall[kind]), "name": f"test micro {kind} (seqeval, IOB2 strict)"}
                    for kind in ("f1", "precision", "recall")
                ],
            }],
        }]
    return meta


def _sources(metrics: Mapping[str, Any], label_maps: Mapping[str, Mapping[str, str] | None]) -> list[str]:
    rows = metrics.get("sources") or []
    lines = ["| split | source | path | sentences | entities | by type | label map |", "|---|---|---|---:|---:|---|---|"]
    for row in rows:
        by_type = ", ".join(f"{kind} {n}" for kind, n in row["by_type"].items()) or "none"
        mapping = label_maps.get(row["source"])
        shown = ", ".join(f"{a}->{b}" for a, b in mapping.items()) if mapping else "none"
        lines.append(f"| {row['split']} | `{row['source']}` | `{row['path']}` | {row['sentences']} | {row['entities']} | {by_type} | {shown} |")
    return lines if rows else ["No source counts were recorded for this model."]


def _scores(metrics: Mapping[str, Any]) -> list[str]:
    test = _test(metrics)
    if test is None:
        return ["The test split has not been scored yet (training in progress or stopped before its end)."]
    interval = (metrics.get("test_bootstrap") or {}).get("types", {})
    micro = (metrics.get("test_bootstrap") or {}).get("micro")

    def ci(entry: Mapping[str, float] | None) -> str:
        if not entry or entry.get("low") != entry.get("low"):  # NaN: no resample held the type
            return "n/a"
        return f"{entry['low']:.3f}-{entry['high']:.3f}"

    lines = ["| type | precision | recall | F1 | 95% CI of F1 | support |", "|---|---:|---:|---:|---|---:|"]
    for kind, row in test["per_type"].items():
        lines.append(f"| {kind} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {ci(interval.get(kind))} | {row['support']} |")
    o = test["overall"]
    lines.append(f"| **micro** | {o['precision']:.4f} | {o['recall']:.4f} | **{o['f1']:.4f}** | {ci(micro)} | {o['support']} |")
    default = _test(metrics, "default")["overall"]["f1"] if metrics["test"].get("default") else None
    notes = [
        "",
        f"Entity-level seqeval scores of what `NerTagger.predict` returns on the test sentences (IOB2 strict); "
        f"the interval is a percentile bootstrap over sentences ({(metrics.get('test_bootstrap') or {}).get('samples', 'no')} samples).",
    ]
    if default is not None:
        notes.append(f"Lenient (seqeval default mode) micro F1: {default:.4f}.")
    if "test_dictionary_baseline_f1" in metrics:
        notes.append(f"A dictionary of the training entities scores {metrics['test_dictionary_baseline_f1']:.4f} on the same split.")
    return lines + notes


def _usage(model_dir: str, crf: bool) -> list[str]:
    lines = [
        "With vietner (raw text in: sentence split, word segmentation, tone placement and windows as in training):",
        "",
        "```python",
        "from vietner import NerTagger",
        "",
        f'tagger = NerTagger.from_pretrained("{model_dir}")',
        'tagger.predict("Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.")',
        "```",
        "",
        "With plain transformers (`AutoTokenizer` loads the directory's `tokenizer.json`, a fast tokenizer giving "
        "`PhobertTokenizer`'s ids; `vocab.txt` and `bpe.codes` are there for `PhobertTokenizer` too):",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'ner = pipeline("token-classification", model="{model_dir}", aggregation_strategy="first")',
        'ner("Bí_thư Thành_uỷ Hà_Nội Đinh_Tiến_Dũng tiếp bà Kang_Kum-Sil .")  # word-segmented input',
        "```",
        "",
        "The pipeline does none of the preprocessing: its input must already be word-segmented (syllables of a "
        "word joined by `_`, words separated by single spaces), spelled with the old tone placement "
        "(`uỷ`, `hoà`) the vocabulary uses, and within 256 tokens (it does not split longer sentences into "
        "windows). It treats an `<unk>` piece as a word of its own.",
    ]
    if crf:
        lines.append(
            "This model has a CRF head: the plain pipeline takes the argmax of the emissions word by word and ignores "
            "the transitions (`crf.safetensors`), so its tags can differ from `NerTagger`'s Viterbi decoding. Use "
            "`NerTagger` for this model's scores."
        )
    return lines


def _ceiling(metrics: Mapping[str, Any]) -> list[str]:
    ceiling = (metrics.get("segmentation_ceiling_f1") or {}).get("test")
    if ceiling is None:
        return []
    return [f"- Word segmentation errors cut entities: with this segmenter no model can score above {ceiling:.4f} F1 on the test split."]


def build_card(
    metrics: Mapping[str, Any],
    settings: Any,
    name: str,
    label_maps: Mapping[str, Mapping[str, str] | None] | None = None,
    model_dir: str = "path/to/model",
) -> str:
    """Return the text of ``README.md`` for a model with ``settings`` (``vietner.json``) and the run's
    ``metrics`` (``metrics.json``'s content; ``test`` None before the test split is scored)."""
    scratch = str(metrics.get("model", "")).startswith("scratch")
    base = settings.base_model
    header = yaml.safe_dump(card_metadata(metrics, base, name), allow_unicode=True, sort_keys=False)
    p = settings.preprocessing
    types = sorted({label[2:] for label in settings.labels if label != "O"})
    body = [
        f"# {name}: Vietnamese named entity recognition ({', '.join(types)})",
        "",
        _SCRATCH_NOTE if scratch else f"Fine-tuned from `{base}` with vietner.",
        "",
        "## Labels",
        "",
        f"IOB2 tags over words: {', '.join(f'`{label}`' for label in settings.labels)} ({settings.head} head).",
        "",
        "## Training data",
        "",
        *_sources(metrics, label_maps or {}),
        "",
        f"Kept model: epoch {metrics.get('best_epoch', '?')}, chosen on {metrics.get('selected_on', 'dev F1')}.",
        "",
        "## Preprocessing the input needs",
        "",
        f"- Word segmentation: `{p.segmenter}` (PhoBERT reads words, syllables joined by `_`).",
        f"- Tone placement: {'old style (`hoà`, `uỷ`), as in PhoBERT’s vocabulary' if p.normalize_tones else 'as written (not normalized)'}; NFC.",
        f"- At most {p.max_length} tokens per input, `<s>` and `</s>` included; longer sentences are read in windows "
        f"sharing {p.window_overlap} tokens, each word from the window where it is central.",
        "",
        "## Test scores",
        "",
        *_scores(metrics),
        "",
        "## How to use",
        "",
        *_usage(model_dir, settings.head == "crf"),
        "",
        "## Limitations",
        "",
        *([_SCRATCH_NOTE, ""] if scratch else []),
        "- Scores are from one small test split; the interval above says how far they may move.",
        "- Entity types outside the labels above are never predicted; input that is not Vietnamese news text may score lower.",
        *_ceiling(metrics),
    ]
    return f"---\n{header}---\n\n" + "\n".join(body) + "\n"


def write_card(
    model_dir: str | os.PathLike,
    metrics: Mapping[str, Any],
    settings: Any,
    name: str,
    label_maps: Mapping[str, Mapping[str, str] | None] | None = None,
) -> Path:
    """Write the card into ``model_dir`` atomically (replacing the one saved with the model); return its path."""
    path = Path(model_dir) / CARD_FILE
    atomic_write_text(path, build_card(metrics, settings, name, label_maps, str(model_dir)), overwrite=True)
    return path


def label_maps_of(data: Any) -> dict[str, Mapping[str, str] | None]:
    """The label map of each source key of ``metrics.json``'s ``sources`` (a ``DataConfig``'s)."""
    primary = data.label_map
    maps: dict[str, Mapping[str, str] | None] = {"data.dir": primary, "data.train_file": primary, "data.dev_file": primary, "data.test_file": primary}
    maps.update({f"data.extra_train[{i}]": source.label_map for i, source in enumerate(data.extra_train)})
    return maps
