"""The module layout: old module paths kept for one release are the moved modules themselves."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ALIASES = {
    "vietner.prediction": "vietner.predictor",
    "vietner.inference": "vietner.tagger",
    "vietner.pipeline": "vietner.streaming",
    "vietner.predict": "vietner.cli.predict",
    "vietner.data": "vietner.cli.data",
    "vietner.documents": "vietner.cli.documents",
    "vietner.card": "vietner.data_card",
    "vietner.evaluation.cli": "vietner.cli.evaluate",
}


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_an_old_module_path_is_the_moved_module(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)


def test_moved_names_still_import_from_their_old_homes() -> None:
    from vietner import NerTagger, tagger
    from vietner.evaluation import main as evaluation_main
    from vietner.training import RunState, dictionary_baseline_f1, load_splits, train_loader

    from vietner.checkpoints import RunState as moved_state
    from vietner.cli.evaluate import main
    from vietner.evaluation.taggers import dictionary_baseline_f1 as moved_baseline

    assert NerTagger is tagger.NerTagger and evaluation_main is main
    assert RunState is moved_state and dictionary_baseline_f1 is moved_baseline
    assert load_splits.__module__ == "vietner.sources" and train_loader.__module__ == "vietner.batching"


@pytest.mark.parametrize("module", ["vietner.data", "vietner.cli.data"])
def test_the_data_command_line_runs_under_its_old_and_new_names(module: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "validate" in done.stdout


# ------------------------------------------------------------------------------------------------------
# Layers: README's "How the code is laid out" lists the modules in order; each imports only those above it.

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vietner"
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_order() -> list[str]:
    """The modules (``x``) and packages (``evaluation``, ``cli``) of README's layout section, in order."""
    section = README.read_text(encoding="utf-8").split("### How the code is laid out", 1)[1].split("\n#", 1)[0]
    return [m.group(1) for m in re.finditer(r"^- `(\w+)(?:\.py|/)`:", section, flags=re.MULTILINE)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere except in a module ``__getattr__`` (the lazy facade of
    ``vietner`` and the documented aliases kept for one release)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__" for n in ast.walk(f)}
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in skip:
            continue
        if node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        elif (node.module or "").split(".")[0] == "vietner":
            base = node.module.removeprefix("vietner").lstrip(".")
        else:
            continue
        for alias in node.names:
            target = f"{base}.{alias.name}" if base else alias.name
            found.add(target if target in modules else base)
    return {m for m in found if m in modules and m and m != name}


def test_each_module_imports_only_modules_listed_above_it_in_the_readme():
    paths = {module_name(p): p for p in SOURCE.rglob("*.py")}
    aliases = set(ALIASES) | {a.removeprefix("vietner.") for a in ALIASES}
    modules = {m for m in paths if m and m not in aliases}
    order = readme_order()
    group = {m: m.split(".")[0] for m in modules}
    assert sorted(set(group.values())) == sorted(order), "README's layout section must list every module once"
    rank = {m: i for i, m in enumerate(order)}
    up = [
        f"{m} imports {t}"
        for m in sorted(modules)
        for t in sorted(imports_of(paths[m], modules))
        if rank[group[t]] > rank[group[m]]
    ]
    assert up == []
    # Inside a package, no circle either.
    graph = {m: imports_of(paths[m], modules) for m in modules}
    done: set[str] = set()

    def visit(m: str, stack: tuple[str, ...]) -> None:
        assert m not in stack, "import circle: " + " -> ".join(stack + (m,))
        if m not in done:
            for t in graph[m]:
                visit(t, stack + (m,))
            done.add(m)

    for m in sorted(modules):
        visit(m, ())
