"""The documentation site: it builds with warnings as errors, every gallery example runs and draws its
figure, the API and command-line references are generated, the pages' Python examples run, and the
pages render in headless Chromium with every image and formula (skipped only where no browser or no
``playwright`` is installed).

The site is built once per session, the way a user builds it (``python -m sphinx -W -b html docs
OUT``), from a scratch copy of ``docs/`` whose neighbours (``examples/``, ``src/``, ``benchmarks/``,
...) link back to this checkout, so the gallery always runs afresh and nothing is written into the
working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
#: What a build leaves in the source folder; never copied into the scratch tree.
BUILD_OUTPUTS = ("_build", "auto_examples", "sg_execution_times.rst", "jupyter_execute")
#: Top-level entries of the checkout that the scratch tree does not link to.
NOT_LINKED = {"docs", ".git", ".venv", ".venv-ci", "build", "dist", "semalign-results", "out", ".pytest_cache"}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory, digits_cache):
    """Build the site once: ``(html_dir, source_dir, build_log)``."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e '.[docs]')")
    scratch = tmp_path_factory.mktemp("docs-build")
    tree = scratch / "checkout"
    tree.mkdir()
    shutil.copytree(DOCS, tree / "docs", ignore=shutil.ignore_patterns(*BUILD_OUTPUTS))
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (tree / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    html = scratch / "html"
    env = {**os.environ, "SEMALIGN_CACHE": str(digits_cache), "MPLBACKEND": "Agg"}
    argv = [sys.executable, "-m", "sphinx", "-W", "-b", "html", "-d", str(scratch / "doctrees"), str(tree / "docs"), str(html)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env, cwd=tree)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"the documentation build failed (warnings are errors):\n{log[-8000:]}"
    return html, tree / "docs", log


def _text(page: Path, *, code: bool = True) -> str:
    """The visible text of an HTML page (tags dropped, whitespace collapsed; ``code=False`` drops
    code blocks too)."""
    hidden = "script|style" if code else "script|style|pre"
    raw = re.sub(rf"<({hidden})\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", raw).split())


# --------------------------------------------------------------------------------- the build
@pytest.mark.slow
def test_every_gallery_example_ran_and_drew_its_figure(site):
    html, source, _ = site
    assert len(EXAMPLES) >= 1, "examples/plot_*.py: the gallery has no example"
    times = _text(html / "sg_execution_times.html")
    for example in EXAMPLES:
        stem = example.stem
        figure = source / "auto_examples" / "images" / f"sphx_glr_{stem}_001.png"
        assert figure.is_file() and figure.stat().st_size > 5_000, f"{example.name} drew no figure"
        assert (html / "_images" / figure.name).is_file(), f"{figure.name} is not in the site"
        assert (html / "auto_examples" / f"{stem}.html").is_file()
        assert f"{stem}.py" in times, f"{example.name} is missing from the execution times"
    gallery = (html / "auto_examples" / "index.html").read_text(encoding="utf-8")
    missing = [e.name for e in EXAMPLES if f"{e.stem}.html" not in gallery]
    assert not missing, f"examples missing from the gallery page: {missing}"


@pytest.mark.slow
def test_api_reference_documents_every_public_name(site):
    import semalign

    html, _, _ = site
    top = (html / "api" / "semalign.html").read_text(encoding="utf-8")
    for name in semalign.__all__:
        assert name in top, f"semalign.{name} is missing from the top-level API page"
    # Every summary entry links to where the object is documented (semalign.Link -> semalign.link.Link).
    for name in ("LinearSemanticTransceiver", "Link", "FederatedDownlink", "SemanticInterferenceGame", "load_latents"):
        assert re.search(rf'<a class="reference internal" href="[^"]+#semalign\.[\w.]*{name}"', top), f"no link for {name}"
    # Docstrings that reStructuredText could not read would show their markup raw.
    for page in sorted((html / "api").glob("*.html")):
        text = _text(page, code=False)
        for markup in (":class:`", ":func:`", ":meth:`", ":mod:`", ":attr:`", ":data:`", "``"):
            assert markup not in text, f"raw {markup!r} in api/{page.name}: ...{text[max(0, text.find(markup) - 80):text.find(markup) + 40]}..."
    transceivers = _text(html / "api" / "transceivers.html")
    assert "LinearSemanticTransceiver" in transceivers and "precoder_" in transceivers
    for page, names in {
        "link.html": ("Link", "noise_variance", "pack_complex"),
        "multiuser.html": ("FederatedDownlink", "SemanticInterferenceGame", "semantic_water_filling", "check_conditions"),
        "latents.html": ("load_latents", "select_pilots", "LatentPair"),
        "experiments.html": ("execute_runs", "ResultStore", "LinkRun", "write_report", "MimoGrid"),
    }.items():
        text = _text(html / "api" / page)
        for name in names:
            assert name in text, f"{name} is missing from api/{page}"


@pytest.mark.slow
def test_cli_reference_is_generated_from_the_typer_app(site):
    html, _, _ = site
    text = _text(html / "cli.html")
    for command in ("semalign reproduce mimo", "semalign reproduce game", "semalign reproduce federated", "semalign run", "semalign report", "semalign figures", "semalign latents extract"):
        assert command in text, f"{command!r} is missing from the command-line reference"
    assert "--snr-convention" in text and "--full" in text


@pytest.mark.slow
def test_pages_exist_with_their_maths_and_benchmarks(site):
    html, _, _ = site
    for page in ("index", "getting-started", "user-guide", "concepts", "settings/single-link", "settings/federated", "settings/game", "robustness", "experiments", "benchmarks", "differences", "development", "changelog"):
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    concepts = (html / "concepts.html").read_text(encoding="utf-8")
    assert concepts.count('class="math') >= 10  # dollar maths became formulas
    assert "_static/mathjax/tex-chtml.js" in concepts and (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert "Measured results" in _text(html / "benchmarks.html")  # benchmarks/RESULTS.md is included


# ---------------------------------------------------------------------------- the sources
def test_docs_and_readme_never_point_outside_the_repository():
    sources = [ROOT / "README.md", *DOCS.rglob("*.md"), DOCS / "conf.py", *(ROOT / "examples").glob("*.py"), *(ROOT / "examples").glob("*.rst")]
    for path in sources:
        if any(part in BUILD_OUTPUTS for part in path.relative_to(ROOT).parts):
            continue
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/specs" not in text, f"{path.relative_to(ROOT)} refers to files outside the repository"


def test_readme_links_and_figure_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 120
    targets = re.findall(r"\]\(([^)#\s]+)", text)
    assert targets
    for target in targets:
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"
    figure = ROOT / "docs" / "_static" / "accuracy_vs_compression.png"
    assert figure.is_file() and figure.stat().st_size < 150_000


@pytest.mark.slow
@pytest.mark.parametrize("page", ["getting-started.md", "concepts.md", "settings/single-link.md", "settings/federated.md", "settings/game.md", "robustness.md"])
def test_python_examples_of_the_pages_run(page, digits_cache_env, tmp_path, monkeypatch):
    """Every ```python block of a page runs as written (one namespace per page, in a scratch folder)."""
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, f"{page} has no Python example"
    namespace = {"__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, str(DOCS / page), "exec"), namespace)


# ----------------------------------------------------------------------------- in a browser
_LOAD_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(i => { i.loading = "eager"; });
    await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
    return images.map(i => ({src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
}"""


@pytest.mark.slow
def test_pages_render_in_headless_chromium_with_every_image_and_formula(site, tmp_path, chromium):
    executable = chromium
    from playwright.sync_api import sync_playwright

    html, _, _ = site
    gallery_page = html / "auto_examples" / f"{EXAMPLES[0].stem}.html"
    pages = {"index": html / "index.html", "gallery": gallery_page, "game": html / "settings" / "game.html"}
    seen: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            requests: list[str] = []
            failed: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.on("requestfailed", lambda request: failed.append(request.url))
            for name, path in pages.items():
                page.goto(path.as_uri(), wait_until="load")
                images = page.evaluate(_LOAD_IMAGES)
                page.wait_for_function("document.querySelectorAll('mjx-container').length > 0 || !document.querySelector('.math')", timeout=30_000)
                formulas = page.evaluate("document.querySelectorAll('mjx-container').length")
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
                seen[name] = {"images": images, "formulas": formulas}
        finally:
            browser.close()
    for name, found in seen.items():
        broken = [i["src"] for i in found["images"] if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
        assert not broken, f"{name}: images that did not load: {broken}"
    assert any("accuracy_vs_compression" in i["src"] for i in seen["index"]["images"])
    assert any(f"sphx_glr_{EXAMPLES[0].stem}_001" in i["src"] for i in seen["gallery"]["images"])
    assert seen["game"]["formulas"] >= 10  # MathJax, served by the site itself, typeset the maths
    assert failed == [], f"requests that failed: {failed}"
    # The site works offline: nothing was fetched from outside it.
    assert [url for url in requests if not url.startswith(("file://", "data:", "blob:"))] == []
