"""vietner: fine-tune PhoBERT for Vietnamese named-entity recognition."""

__version__ = "0.1.0"
