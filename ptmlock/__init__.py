"""ptmlock: a package manager for pre-trained models.

Importing this package is cheap: it loads no ML library and no huggingface_hub.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
