"""Kept for one release: moved to :mod:`vietner.cli.evaluate`; import it from there.

Importing this name gives that module itself (not a copy), so patching either patches both.
"""

import importlib
import sys

_moved = importlib.import_module("vietner.cli.evaluate")

if __name__ == "__main__":  # python -m vietner.evaluation.cli
    sys.exit(_moved.main())
sys.modules[__name__] = _moved
