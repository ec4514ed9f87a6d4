"""Sphinx configuration of hepopt's documentation (MyST Markdown pages, API from docstrings,
the config reference generated from the schema). Built in CI with warnings as errors:

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import hepopt

project = "hepopt"
author = "the hepopt developers"
copyright = "2026, the hepopt developers"
release = version = hepopt.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "hepopt_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # dataclass attributes once, as fields of the class
html_theme = "furo"
html_title = f"hepopt {release}"
nitpicky = False
