"""Sphinx configuration of gilfree's documentation.

Sphinx with MyST Markdown pages, numpydoc docstrings, an autosummary API
reference (one generated page per public name) and the pydata theme.  Build:

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

The docs are built from the *installed* package (like the tests): ``src/``
is not put on ``sys.path``.
"""

from datetime import date

import gilfree

project = "gilfree"
author = "gilfree developers"
copyright = f"{date.today().year}, {author}"
release = gilfree.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "sphinx_design",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- API reference ------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
# signatures show defaults as written (np.float64), not their repr
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Checks on every documented object; a failure is a warning, and the CI
# build turns warnings into errors.  GL08: the object has no docstring.
numpydoc_validation_checks = {"GL08"}
# ... on the public names themselves: a method or attribute listed on its
# class's page is summarised there, and tests/test_docs.py checks the names.
numpydoc_validation_exclude = {r"^gilfree\.(\w+\.)*[A-Z]\w*\.\w+$"}

# -- doctest ------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import gilfree
"""

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gilfree {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting-started": [], "changelog": []}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
