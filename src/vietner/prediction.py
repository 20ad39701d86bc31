"""Kept for one release: moved to :mod:`vietner.predictor`; import it from there.

Importing this name gives that module itself (not a copy), so patching either patches both.
"""

import importlib
import sys

_moved = importlib.import_module("vietner.predictor")
sys.modules[__name__] = _moved
