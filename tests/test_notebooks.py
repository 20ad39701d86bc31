"""The notebooks run top to bottom (small setting), and the committed copies carry their outputs and plots."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_corpus.ipynb", "02_train_and_evaluate.ipynb"]


def images(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_top_to_bottom(name, tmp_path, monkeypatch):
    # VIETNER_NOTEBOOK_SMALL: 02 trains a 0.1M-parameter model for two epochs into a temporary folder
    # (TMPDIR, so under tmp_path) instead of the full tiny config.
    monkeypatch.setenv("VIETNER_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    # Any cell that raises fails the test (nbclient raises CellExecutionError with the traceback).
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert images(notebook) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_its_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "commit the notebook executed, with its outputs"
    assert not any(output.output_type == "error" for cell in code for output in cell.outputs)
    assert images(notebook) >= 2
    # The committed run is the real one, not the test suite's small setting.
    text = "".join(output.get("text", "") for cell in code for output in cell.outputs)
    assert "small setting" not in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_imports_only_vietner_code(name):
    # The notebooks show the package; they define no training code of their own.
    source = "\n".join(cell.source for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells if cell.cell_type == "code")
    for forbidden in ("import torch", "from torch", "import transformers", "from transformers", "optimizer", ".backward("):
        assert forbidden not in source
