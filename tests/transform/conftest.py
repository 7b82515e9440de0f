"""Hypothesis keeps its files (example database, constants and unicode caches) out of the working tree."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "retab-warehouse-hypothesis")
)
