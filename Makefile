# `make test` and `make train` work on a fresh clone: both set up .venv first (quick once it is done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so set-up re-runs only when pyproject.toml changes.
STAMP := $(VENV)/.installed

.PHONY: setup test train

setup: $(STAMP)

# torch goes first and pinned: on these machines torch==2.13.0 is a CPU build already on disk, while
# resolving a bare "torch" from the package's dependencies would pull a CUDA build of several GB.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

# One test process per core (pytest-xdist); trained test models are shared between them (tests/conftest.py).
test: setup
	$(BIN)/python -m pytest -q -n auto --dist worksteal

train: setup
	$(BIN)/python train.py --config configs/tiny.yaml
