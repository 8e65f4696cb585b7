"""Sphinx configuration of the semalign documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (warnings are errors). The gallery
(``examples/plot_*.py``) is executed at every build.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))  # build from the checkout even where semalign is not installed

# Headless: the gallery's figures are drawn by matplotlib without a display.
os.environ.setdefault("MPLBACKEND", "Agg")

import semalign  # noqa: E402

project = "semalign"
author = "the semalign developers"
copyright = "the semalign developers"  # noqa: A001 (Sphinx's name)
release = semalign.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinxcontrib.typer",
    "sphinx-mathjax-offline",  # MathJax served from _static: the pages render their maths offline
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip", "**.ipynb_checkpoints"]

# ---------------------------------------------------------------------------------------- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -------------------------------------------------------------------------------- autodoc & co.
autosummary_generate = False  # summary tables only: every object is documented on its package page
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = False
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = False
napoleon_attr_annotations = True
add_module_names = False
toc_object_entries_show_parents = "hide"  # the page's table of contents lists `fit`, not `Class.fit`

# -------------------------------------------------------------------------------- the gallery
# Every ``examples/plot_*.py`` runs at every build; its figures are captured. A failing example
# fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "capture_repr": (),
    "show_memory": False,
    "min_reported_time": 1,
    "doc_module": ("semalign",),
    "reference_url": {"semalign": None},  # link the examples' code to this API reference
    "backreferences_dir": None,
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
    "show_signature": False,
}

# ---------------------------------------------------------------------------------------- theme
html_theme = "pydata_sphinx_theme"
html_title = f"semalign {release}"
html_static_path = ["_static"]
html_css_files = ["semalign.css"]
# Pages without sub-pages need no navigation column.
html_sidebars = {page: [] for page in ("index", "getting-started", "cli", "benchmarks", "differences", "development", "changelog")}
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False


# ------------------------------------------------------------------------ cross-reference aliases
# A public object is documented once, under the package that exports it (``semalign.link.Link``);
# docstrings and pages also name it by its other public paths (``semalign.Link``, or a submodule
# path ``semalign.multiuser.game.solve_game``). A reference that Sphinx cannot find is looked up by
# object identity among the documented names and, when the object is documented, resolved to it.
def _import_path(path: str):
    """The object at a dotted path, or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _documented_by_identity(app, env) -> dict[int, str]:
    """``id(object) -> documented name`` (kept on the application: object ids live one process)."""
    cache = getattr(app, "_semalign_documented", None)
    if cache is None or cache[0] != len(env.domains["py"].objects):
        found: dict[int, str] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, entry in sorted(env.domains["py"].objects.items()):
                if entry.aliased or entry.objtype in ("module", "data", "attribute"):
                    continue
                obj = _import_path(name)
                if obj is not None:
                    found.setdefault(id(obj), name)
        cache = (len(env.domains["py"].objects), found)
        app._semalign_documented = cache
    return cache[1]


def _resolve_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("semalign"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = _import_path(target)
    if obj is None:
        return None
    name = _documented_by_identity(app, env).get(id(obj))
    if name is None or name == target:
        return None
    domain = env.domains["py"]
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, node, contnode)


# ----------------------------------------------------------------------- docstrings, normalised
# The docstrings are Google style, written to be read as plain text. A few habits of this code base
# are not in Napoleon's or reStructuredText's grammar; two hooks translate them without changing
# what the docstrings say:
#
# * before Napoleon: a section title with a note (``Attributes (after ``fit``):``, ``Attributes
#   after :meth:`fit`:``, ``Args (besides X's):``) becomes a rubric with the full title followed by
#   the plain section, a list of argument names wrapped before its colon is joined, and a closing
#   remark written inside an ``Args:`` or ``Attributes:`` section becomes a paragraph after it;
# * after Napoleon: names with a trailing underscore (``precoder_``, scikit-learn's learned
#   attributes) and the bars of norms (``|z|``, ``||F||``) are escaped outside literals, since
#   reStructuredText would read them as hyperlink and substitution references, and a nested list
#   gets the blank lines reStructuredText needs around it.
_SECTIONS = ("Args", "Arguments", "Attributes", "Returns", "Raises")
_NOTED_SECTION = re.compile(r"^(\s*)(" + "|".join(_SECTIONS) + r")\s+(\S.*):\s*$")
_WRAPPED_NAMES = re.compile(r"^\s+[A-Za-z_]\w*(, *[A-Za-z_]\w*)*,\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+\.|#\.)\s+\S")
_INLINE_LITERAL = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]*`_{0,2}|\$[^$]+\$)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z]\w*?)_(?![\w`])")
_LITERAL_DIRECTIVES = re.compile(r"^\s*\.\. (code-block|code|sourcecode|math|parsed-literal|doctest|testcode|testoutput)::")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _normalise_sections(app, what, name, obj, options, lines):
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else ""
        noted = _NOTED_SECTION.match(line)
        if noted and following.strip() and _indent(following) > _indent(line):
            indent, section, note = noted.groups()
            title = "Arguments" if section in ("Args", "Arguments") else section
            note = re.sub(r"``([^`]+)``", r"\1", note)  # a rubric is a plain title
            note = re.sub(r":[\w:]+:`~?(?:[\w.]*\.)?([^`.]+)`", r"\1", note)
            out += [f"{indent}.. rubric:: {title} {note}", "", f"{indent}{section}:"]
            i += 1
            continue
        if _WRAPPED_NAMES.match(line) and ":" in following and _indent(following) > _indent(line):
            out.append(line.rstrip() + " " + following.strip())
            i += 2
            continue
        out.append(line)
        i += 1
    lines[:] = _close_field_sections(out)


_FIELD_SECTIONS = re.compile(r"^\s*(Args|Arguments|Parameters|Attributes|Keyword Args|Other Parameters):\s*$")
_FIELD_ITEM = re.compile(r"^\s*\*{0,2}[A-Za-z_][\w.]*(\s*,\s*\*{0,2}[A-Za-z_][\w.]*)*\s*(\([^)]*\))?\s*:(\s|$)")


def _close_field_sections(lines: list[str]) -> list[str]:
    """A closing remark written inside an ``Args:`` or ``Attributes:`` section, at the items'
    indentation but not of the form ``name: text``, becomes a paragraph after the section."""
    out: list[str] = []
    section = item = None  # indentation of the section title and of its items
    remark = False
    for line in lines:
        if _FIELD_SECTIONS.match(line):
            section, item, remark = _indent(line), None, False
            out.append(line)
            continue
        if section is None or not line.strip():
            out.append(line)
            continue
        depth = _indent(line)
        if depth <= section:
            section, remark = None, False
            out.append(line)
            continue
        item = depth if item is None else item
        if not remark and depth == item and not _FIELD_ITEM.match(line):
            remark = True
            out.append("")
        out.append(" " * section + line[item:] if remark and depth >= item else line)
    return out


def _escape_text(text: str) -> str:
    parts = _INLINE_LITERAL.split(text)
    for k in range(0, len(parts), 2):  # even parts lie outside literals and roles
        part = _TRAILING_UNDERSCORE.sub(r"\1\\_", parts[k])
        parts[k] = re.sub(r"(?<!\\)\|", r"\\|", part)
    return "".join(parts)


def _escape_rst(app, what, name, obj, options, lines):
    out: list[str] = []
    literal_from = None  # indentation of the paragraph that opened a literal block
    previous = ""  # the last non-blank line
    for line in lines:
        stripped = line.strip()
        if literal_from is not None:
            if not stripped or _indent(line) > literal_from:
                out.append(line)
                continue
            literal_from = None
        if not stripped:
            out.append(line)
            continue
        if _LITERAL_DIRECTIVES.match(line) or (stripped.endswith("::") and not stripped.startswith("..")):
            literal_from = _indent(line)
        if stripped.startswith(">>>") or stripped.startswith("...") or stripped[0] in "|+=":
            text = line
        elif stripped.startswith(".. "):
            text = line  # a directive line: its argument is a name, not running text
        elif stripped.startswith(":") and stripped.count(":") >= 2 and not stripped.startswith(":math:"):
            head, _, body = line.partition(":")
            field, _, body = body.partition(":")
            text = f"{head}:{field}:{_escape_text(body)}"
        else:
            text = _escape_text(line)
        if _LIST_ITEM.match(line) and previous and _indent(previous) != _indent(line) and out and out[-1].strip():
            out.append("")
        elif previous and _LIST_ITEM.match(previous) is None and _indent(line) < _indent(previous) and out and out[-1].strip():
            if any(_LIST_ITEM.match(p) for p in out[-6:]):
                out.append("")
        out.append(text)
        previous = line
    lines[:] = out


def setup(app):
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-process-docstring", _normalise_sections, priority=100)  # before Napoleon (500)
    app.connect("autodoc-process-docstring", _escape_rst, priority=900)  # after it
