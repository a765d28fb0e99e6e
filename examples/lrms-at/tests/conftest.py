"""Run the tests from a source checkout too: without an installed lrms-at, import it from src/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("lrms_at") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
