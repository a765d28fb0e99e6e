"""Sphinx configuration for the lrms documentation.

Build: ``sphinx-build -W --keep-going -n -b html docs docs/_build/html``.
Pages are Markdown (MyST); the reference pages are generated from the code by
the local extension ``docs/_ext/lrms_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "lrms"
author = "the lrms developers"
copyright = "the lrms developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "lrms_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]

# Keep "--option" as typed (no en dashes); quotes still become typographic.
smartquotes_action = "qe"

# Markdown: "#anchor" links to headings up to level 3 resolve, as on GitHub.
myst_heading_anchors = 3

# The API reference: signatures as written, members in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
python_use_unqualified_type_names = True

# Every reference to an lrms object must resolve.  The build is offline (no
# intersphinx), so dotted names outside lrms (standard library, paramiko, pluggy)
# show as plain text.
nitpicky = True
nitpick_ignore_regex = [("py:.*", r"(?!lrms\.)\w+\..+")]

html_theme = "furo"
html_title = "lrms"
