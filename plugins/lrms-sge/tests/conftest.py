"""Make ``lrms_sge`` importable from the source tree when it is not installed."""

import os
import sys

try:
    import lrms_sge.parse  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src"))
