"""Kept for one release: moved to :mod:`vietner.cli.documents`; import it from there.

Importing this name gives that module itself (not a copy), so patching either patches both.
"""

import importlib
import sys

_moved = importlib.import_module("vietner.cli.documents")
sys.modules[__name__] = _moved
