"""vietner: fine-tune PhoBERT for Vietnamese named-entity recognition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Entity", "NerTagger", "__version__"]

if TYPE_CHECKING:
    from .tagger import Entity, NerTagger


def __getattr__(name: str) -> Any:
    # Lazy: `import vietner` (and the corpus tools) must not pay for importing torch and transformers.
    if name in ("NerTagger", "Entity"):
        from . import tagger

        return getattr(tagger, name)
    raise AttributeError(f"module 'vietner' has no attribute {name!r}")
