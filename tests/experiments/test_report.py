"""``semalign report OUT_DIR``: one self-contained HTML page per study folder.

A tiny single-link study is run once for the module (synthetic latents, a few seconds); each test
copies its folder before changing anything. The page is parsed with the standard library's HTML
parser and checked against the files and against numbers computed here with Polars; one test
renders it in headless Chromium (skipped only where no browser or no ``playwright`` is installed).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
import torch
from typer.testing import CliRunner

import semalign
from semalign.cli import app
from semalign.experiments.plotting import png_caption
from semalign.experiments.report import CONFIG_FILES, figures_are_stale, write_report
from semalign.experiments.runs import link as link_runs
from semalign.experiments.studies import run_study
from semalign.experiments.studies.mimo import quick_grid


def run_mimo(grid, out, progress=False):
    return run_study("mimo", grid, out, progress=progress)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = dict(
    latents="synthetic",
    latents_options=dict(n_train=300, n_test=150, d_tx=12, d_rx=16, seed=0),
    seeds=(1, 2),
    methods=("linear-admm", "first-k", "neural"),
    compression_pilots=(10,),
    compression_antennas=(1, 3, 6),
    snr_values=(-10.0, 30.0),
    snr_antennas=3,
    snr_pilots=10,
    flops_pilots=10,
    flops_antennas=(1, 3),
    flops_lams=(0.0, 1e-3),
    neural_epochs=2,
)
FIGURES = ("accuracy_vs_compression.png", "accuracy_vs_flops.png", "accuracy_vs_snr.png", "mse_vs_compression.png", "mse_vs_snr.png")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny matrices: one intra-op thread avoids OpenMP spin-waiting on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A finished single-link study folder (results.parquet, manifest.json, parts/, figures/)."""
    out = tmp_path_factory.mktemp("report-study")
    run_mimo(quick_grid(**GRID), out, progress=False)
    return out


@pytest.fixture
def folder(study, tmp_path) -> Path:
    """A private copy of the study folder, free to change (modification times kept)."""
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    return copy


@pytest.fixture(scope="module")
def reported(study, tmp_path_factory):
    """The page of an untouched copy of the study, written through the command line: (folder, page, output)."""
    copy = tmp_path_factory.mktemp("reported") / "study"
    shutil.copytree(study, copy)
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    return copy, Page.parse((copy / "report.html").read_text(encoding="utf-8")), result.output


# --------------------------------------------------------------------------------- page parsing
class Page(HTMLParser):
    """The parts of a report page the tests read: every tag's attributes, images, figures, tables,
    <pre> blocks and the text of the whole page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.images: list[dict] = []
        self.figures: list[dict] = []  # {"img": attrs, "caption": text}
        self.tables: list[dict] = []  # {"attrs", "rows": [[(tag, attrs, text)]]}
        self.pres: list[str] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self._cell: list | None = None
        self._pre: list[str] | None = None
        self._caption: list[str] | None = None

    @classmethod
    def parse(cls, source: str) -> "Page":
        page = cls()
        page.feed(source)
        page.close()
        page.source = source
        return page

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("img", "br", "meta", "input"):
            self._stack.append(tag)
        if tag == "img":
            self.images.append(attrs)
            if self.figures and self.figures[-1]["open"]:
                self.figures[-1]["img"] = attrs
        elif tag == "figure":
            self.figures.append({"attrs": attrs, "img": None, "caption": "", "open": True})
        elif tag == "figcaption":
            self._caption = []
        elif tag == "table":
            self.tables.append({"attrs": attrs, "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = [tag, attrs, []]
        elif tag == "pre":
            self._pre = []

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            kind, attrs, parts = self._cell
            self.tables[-1]["rows"][-1].append((kind, attrs, " ".join("".join(parts).split())))
            self._cell = None
        elif tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None
        elif tag == "figcaption" and self._caption is not None:
            self.figures[-1]["caption"] = "".join(self._caption)
            self._caption = None
        elif tag == "figure":
            self.figures[-1]["open"] = False

    def handle_data(self, data):
        self.text.append(data)
        for sink in (self._cell[2] if self._cell else None, self._pre, self._caption):
            if sink is not None:
                sink.append(data)

    def tables_with(self, css_class: str) -> list[dict]:
        return [t for t in self.tables if css_class in t["attrs"].get("class", "").split()]

    def all_text(self) -> str:
        return " ".join("".join(self.text).split())


def _decoded(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:60]
    return base64.b64decode(src[len(prefix) :], validate=True)


def _kv(table: dict) -> dict[str, str]:
    """A two-column key/value table as a dict."""
    return {row[0][2]: row[1][2] for row in table["rows"] if len(row) == 2}


# ------------------------------------------------------------------------------- self-contained
def test_page_is_self_contained(reported):
    _, page, _ = reported
    assert 'src="http' not in page.source and "url(http" not in page.source and "@import" not in page.source
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        if "src" in attrs:
            assert attrs["src"].startswith("data:image/png;base64,"), (tag, attrs["src"][:60])
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]  # only links within the page
    assert page.images, "no images on the page"
    for image in page.images:
        data = _decoded(image["src"])
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_every_figure_is_embedded_with_its_caption(reported):
    out, page, output = reported
    pngs = sorted((out / "figures").glob("*.png"))
    assert sorted(p.name for p in pngs) == sorted(FIGURES)
    assert "as found" in output  # the study drew its figures after writing results.parquet
    assert len(page.images) == len(pngs) == len(page.figures)
    embedded = {_decoded(f["img"]["src"]): f["caption"] for f in page.figures}
    for png in pngs:
        data = png.read_bytes()
        assert data in embedded, f"{png.name} is not embedded byte for byte"
        caption = png_caption(png)
        assert caption and "SNR convention 'total'" in caption  # stored by the drawer
        shown = " ".join(embedded[data].split())
        assert png.name in shown and " ".join(caption.split()) in shown


def test_figure_captions_are_stored_in_the_png(tmp_path):
    import matplotlib.pyplot as plt

    from semalign.experiments.plotting import save_figure

    fig, _ = plt.subplots()
    caption = "digits: a -> b\nSNR convention 'total', ζ ± σ"
    save_figure(fig, caption, tmp_path / "f.png")
    assert png_caption(tmp_path / "f.png") == caption
    fig, _ = plt.subplots()
    fig.savefig(tmp_path / "plain.png")
    plt.close(fig)
    assert png_caption(tmp_path / "plain.png") is None
    (tmp_path / "junk.png").write_bytes(b"not a png")
    assert png_caption(tmp_path / "junk.png") is None


# ------------------------------------------------------------------------ configuration, conventions
def test_configuration_is_shown_and_faithful(reported):
    out, page, _ = reported
    stored = json.loads((out / "manifest.json").read_text())
    shown = [json.loads(text) for text in page.pres]
    assert stored in shown  # pretty-printed, but the same configuration
    assert "manifest.json" in page.all_text()


def test_conventions_are_read_from_the_rows(reported):
    out, page, _ = reported
    conventions = _kv(page.tables_with("conventions")[0])
    results = pl.read_parquet(out / "results.parquet")
    assert conventions["snr_convention"] == "total"
    assert conventions["channel_variance"] == "1" and conventions["power"] == "1"
    assert conventions["device"] == "cpu"
    assert conventions["dataset"] == "synthetic"
    assert conventions["tx_encoder"] == results["tx_encoder"][0]
    assert conventions["semalign_version"] == semalign.__version__
    assert conventions["torch_version"] == torch.__version__
    assert re.fullmatch(r"1 \(\d+ rows\), 2 \(\d+ rows\)", conventions["seed"]), conventions["seed"]
    # processing only applies to linear ADMM rows; the others are marked, with counts.
    linear = results.filter(pl.col("method") == "linear-admm").height
    assert f"widely-linear ({linear} rows)" in conventions["processing"]
    assert f"not recorded ({results.height - linear} rows)" in conventions["processing"]


def test_conventions_show_every_value_found(folder):
    """Rows with two SNR conventions and two channel variances: the page lists both with counts."""
    results = pl.read_parquet(folder / "results.parquet")
    half = pl.int_range(pl.len()) % 2 == 0
    changed = results.with_columns(
        pl.when(half).then(pl.lit("per-antenna")).otherwise(pl.col("snr_convention")).alias("snr_convention"),
        pl.when(half).then(pl.lit(0.5)).otherwise(pl.col("channel_variance")).alias("channel_variance"),
    )
    changed.write_parquet(folder / "results.parquet")
    write_report(folder, redraw=False)
    conventions = _kv(Page.parse((folder / "report.html").read_text()).tables_with("conventions")[0])
    even, odd = (results.height + 1) // 2, results.height // 2
    assert conventions["snr_convention"] == f"per-antenna ({even} rows), total ({odd} rows)"
    assert conventions["channel_variance"] == f"0.5 ({even} rows), 1 ({odd} rows)"


# ---------------------------------------------------------------------------------------- numbers
def _number(text: str) -> float | None:
    return None if text in ("—", "n/a") else float(text)


def _matches(column: pl.Series, text: str) -> pl.Series:
    """Rows whose ``column`` value is the one shown as ``text`` in a key cell or header."""
    if text in ("—", "n/a"):
        return column.is_null()
    if column.dtype.is_numeric():
        value = float(text)
        return ((column.cast(pl.Float64) - value).abs() <= 1e-3 * abs(value) + 1e-12).fill_null(False)  # shown to 4 digits
    return (column.cast(pl.String) == text).fill_null(False)


def _check_cell(frame: pl.DataFrame, metric: str, mask: pl.Series, cell: tuple) -> int:
    """Compare one table cell with the mean/std computed here; returns the rows it covers."""
    _, attrs, text = cell
    rows = frame.filter(mask)
    if not text:
        assert rows.height == 0, f"an empty cell hides {rows.height} rows"
        return 0
    values = rows[metric].cast(pl.Float64)
    mean, std = values.mean(), values.std()
    exact = dict(part.split("=") for part in attrs["title"].split("; "))
    assert int(exact["rows"]) == rows.height and int(exact["values"]) == rows[metric].drop_nulls().len()
    assert float(exact["mean"]) == pytest.approx(mean, rel=1e-12, abs=1e-15)
    shown = [float(x) for x in text.split(" ± ")]
    assert shown[0] == pytest.approx(mean, abs=5.1e-4 * max(1.0, abs(mean)))
    if rows.height == 1:
        assert len(shown) == 1 and exact["std"] == "None"
    else:
        assert float(exact["std"]) == pytest.approx(std, rel=1e-12, abs=1e-15)
        assert shown[1] == pytest.approx(std, abs=5.1e-4 * max(1.0, abs(mean)))
    return rows.height


def test_summary_numbers_match_polars(reported):
    out, page, _ = reported
    results = pl.read_parquet(out / "results.parquet")
    tables = page.tables_with("summary")
    assert {t["attrs"]["data-experiment"] for t in tables} == set(results["experiment"].unique())
    for table in tables:
        attrs = table["attrs"]
        frame = results.filter(pl.col("experiment") == attrs["data-experiment"])
        keys = [k for k in attrs["data-keys"].split(",") if k]
        axis, metric = attrs["data-axis"], attrs["data-metric"]
        assert axis, "these small tables are spread over an axis"
        header_rows = [r for r in table["rows"] if r and r[0][0] == "th"]
        axis_values = [c[2] for c in header_rows[1]]
        covered = 0
        for row in table["rows"][len(header_rows) :]:
            mask = pl.Series([True] * frame.height)
            for key, cell in zip(keys, row):
                mask = mask & _matches(frame[key], cell[2])
            for value, cell in zip(axis_values, row[len(keys) :]):
                covered += _check_cell(frame, metric, mask & _matches(frame[axis], value), cell)
        assert covered == frame.height, f"{attrs['data-experiment']}/{metric}: the table covers {covered} of {frame.height} rows"


def test_summary_tables_follow_the_study_axes(reported):
    _, page, _ = reported
    layout = {(t["attrs"]["data-experiment"], t["attrs"]["data-metric"]): (t["attrs"]["data-keys"], t["attrs"]["data-axis"]) for t in page.tables_with("summary")}
    assert layout[("compression", "accuracy")] == ("method,awareness", "compression_factor")
    assert layout[("compression", "mse")] == ("method,awareness", "compression_factor")
    assert layout[("snr", "accuracy")] == ("method,awareness", "snr_db")
    assert layout[("flops", "accuracy")][1] in ("compression_factor", "lam")
    text = page.all_text()
    assert "Fixed in these rows:" in text and "snr_db = 20 (where recorded)" in text  # the compression SNR


def test_long_tables_are_capped_with_a_note(folder, monkeypatch):
    from semalign.experiments import report

    monkeypatch.setattr(report, "MAX_TABLE_ROWS", 3)
    write_report(folder, redraw=False)
    page = Page.parse((folder / "report.html").read_text())
    for table in page.tables_with("summary"):
        assert len(table["rows"]) <= 2 + 3  # two header rows
    assert "Showing the first 3 of" in page.all_text()


def test_columns_and_provenance(reported):
    out, page, _ = reported
    results = pl.read_parquet(out / "results.parquet")
    text = page.all_text()
    assert f"{results.height:,} rows × {results.width} columns" in text
    columns = page.tables_with("columns")[0]
    assert [row[0][2] for row in columns["rows"][1:]] == results.columns
    provenance = _kv(page.tables[-1])
    assert provenance["by"].startswith(f"semalign {semalign.__version__}")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", provenance["generated"])
    import hashlib

    assert hashlib.sha256((out / "results.parquet").read_bytes()).hexdigest() in provenance["results.parquet"]
    assert "single-link MIMO study" in text and out.name in text


# ------------------------------------------------------------------------------------- redrawing
def test_redraws_missing_figures_without_rerunning(folder, monkeypatch):
    def must_not_run(runs, run_ids, context):
        raise AssertionError("the report reran a run")

    monkeypatch.setattr(link_runs, "run_link_group", must_not_run)
    shutil.rmtree(folder / "figures")
    result = CliRunner().invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert "redrawn" in result.output and "figures/ did not exist" in result.output
    assert sorted(p.name for p in (folder / "figures").glob("*.png")) == sorted(FIGURES)
    page = Page.parse((folder / "report.html").read_text())
    assert len(page.images) == len(FIGURES)
    assert {_decoded(i["src"]) for i in page.images} == {(folder / "figures" / n).read_bytes() for n in FIGURES}


def test_no_redraw_reports_what_is_there(folder):
    shutil.rmtree(folder / "figures")
    result = CliRunner().invoke(app, ["report", str(folder), "--no-redraw"])
    assert result.exit_code == 0, result.output
    assert not (folder / "figures").exists()
    page = Page.parse((folder / "report.html").read_text())
    assert page.images == [] and "figures/ holds no PNG" in page.all_text() and "--redraw" in page.all_text()


def test_figures_older_than_the_results_are_redrawn(folder):
    assert figures_are_stale(folder) == (False, "the figures were newer than results.parquet")
    old = time.time() - 3600
    victim = folder / "figures" / "accuracy_vs_snr.png"
    os.utime(victim, (old, old))
    stale, reason = figures_are_stale(folder)
    assert stale and reason == "1 of 5 figures were older than results.parquet"
    report = write_report(folder)
    assert report.redrawn and victim.stat().st_mtime > old + 60
    # --no-redraw keeps them as they are; --redraw redraws fresh ones.
    os.utime(victim, (old, old))
    assert not write_report(folder, redraw=False).redrawn and victim.stat().st_mtime == pytest.approx(old)
    assert write_report(folder, redraw=True).redrawn and victim.stat().st_mtime > old + 60


def test_a_drawing_failure_still_gives_the_page(folder):
    """Rows the drawers cannot plot (here without the SNR convention the captions name): the page
    is written with the numbers and the figures found, and says what went wrong."""
    pl.read_parquet(folder / "results.parquet").drop("snr_convention").write_parquet(folder / "results.parquet")
    result = CliRunner().invoke(app, ["report", str(folder), "--redraw"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "warning: the figures could not be redrawn (" in output and "snr_convention" in output
    page = Page.parse((folder / "report.html").read_text())
    assert "the figures could not be redrawn" in page.all_text()
    assert len(page.images) == len(FIGURES) and page.tables_with("summary")


def test_output_option_writes_elsewhere(folder, tmp_path):
    target = tmp_path / "pages" / "mimo.html"
    result = CliRunner().invoke(app, ["report", str(folder), "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.exists() and not (folder / "report.html").exists()
    assert len(Page.parse(target.read_text()).images) == len(FIGURES)
    assert list(tmp_path.rglob("*.tmp")) == []


# ---------------------------------------------------------------------------------------- errors
def _one_red_line(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert result.output.strip().count("\n") == 0, result.output  # one line
    assert result.output.startswith("error:")
    for needle in needles:
        assert needle in result.output, (needle, result.output)


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-study"
    result = CliRunner().invoke(app, ["report", str(missing)])
    _one_red_line(result, str(missing), "does not exist", f"semalign reproduce mimo --out {missing}")
    assert not missing.exists()


def test_missing_results_is_a_clear_error(tmp_path):
    (tmp_path / "figures").mkdir()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    _one_red_line(result, str(tmp_path / "results.parquet"), "does not exist", "semalign reproduce mimo")
    assert not (tmp_path / "report.html").exists()


def test_a_file_instead_of_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "results.parquet").write_bytes(b"")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "results.parquet")])
    _one_red_line(result, "is not a folder")


def test_library_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.parquet does not exist"):
        write_report(tmp_path)


# --------------------------------------------------------------------------------------- escaping
def test_everything_interpolated_is_escaped(study, tmp_path):
    out = tmp_path / 'odd <b>name</b> & "quotes"'
    shutil.copytree(study, out)
    results = pl.read_parquet(out / "results.parquet")
    evil = "<script>alert('x')</script>"
    results.with_columns(pl.when(pl.col("method") == "first-k").then(pl.lit(evil)).otherwise(pl.col("method")).alias("method"), pl.lit(evil).alias("device")).write_parquet(out / "results.parquet")
    (out / "manifest.json").write_text(json.dumps({"note": "</pre><img src=x onerror=alert(1)>"}))
    write_report(out, redraw=False)
    source = (out / "report.html").read_text()
    page = Page.parse(source)
    assert "<script" not in source and "<b>name</b>" not in source and "<img src=x" not in source
    assert all(tag not in ("script", "b") for tag, _ in page.tags)
    assert "&lt;script&gt;" in source and "&lt;b&gt;name&lt;/b&gt;" in source
    assert evil in page.all_text() and 'odd <b>name</b> & "quotes"' in page.all_text()
    assert json.loads(page.pres[0]) == {"note": "</pre><img src=x onerror=alert(1)>"}


# -------------------------------------------------------------------------------- config variants
def test_reads_every_config_file_of_a_sweep(folder):
    (folder / "manifest.json").unlink()
    (folder / "config.yaml").write_text("experiment: mimo\nsweep:\n  snr_db: [-10, 30]\n")
    (folder / "config.json").write_text('{"axes": {"snr_db": [-10, 30]}, "runs": 4}')
    write_report(folder, redraw=False)
    page = Page.parse((folder / "report.html").read_text())
    assert "config.yaml" in page.all_text() and "config.json" in page.all_text()
    assert "experiment: mimo\nsweep:\n  snr_db: [-10, 30]" in page.pres
    assert {"axes": {"snr_db": [-10, 30]}, "runs": 4} in [json.loads(p) for p in page.pres if p.startswith("{")]


def test_no_config_file_is_said(folder):
    (folder / "manifest.json").unlink()
    write_report(folder, redraw=False)
    text = Page.parse((folder / "report.html").read_text()).all_text()
    assert "No configuration file found" in text and all(name in text for name in CONFIG_FILES)


# ------------------------------------------------------------------------- the other two studies
def _game_study(out: Path) -> None:
    from semalign.experiments.studies.game import GameGrid

    grid = GameGrid(
        latents="synthetic", pairs=(("a", "b"), ("c", "d")), synthetic_options={"n_train": 200, "n_test": 100, "d_tx": 8, "d_rx": 8},
        seeds=(1, 2), pilots_per_class=10, experiments=("compression",), methods=("game-fixed-eigenmode", "orthogonal"),
        compression_channel_uses=(1, 2), max_iterations=30,
    )  # fmt: skip
    run_study("game", grid, out, progress=False, figures=False)


def _federated_study(out: Path) -> None:
    from semalign.experiments.studies.federated import FederatedGrid

    grid = FederatedGrid(
        latents="synthetic", heterogeneity_sources=("synthetic",), synthetic_options={"n_train": 200, "n_test": 100, "d_tx": 8, "seed": 5},
        synthetic_users=(("a", 1.0, 8), ("b", 0.0, 8)), synthetic_homogeneous_sets=(("a", "b"),), synthetic_heterogeneous_sets=(("a", "b"),),
        seeds=(1, 2), rounds=4, experiments=("snr",), methods=("federated-admm", "first-k"), snr_values=(0.0, 20.0), snr_channel_uses=(1,),
    )  # fmt: skip
    run_study("federated", grid, out, progress=False, figures=False)


@pytest.mark.parametrize(
    ("make", "title", "figures", "axis"),
    [
        (_game_study, "interference-game study", {"game_accuracy_vs_compression.png", "game_mse_vs_compression.png"}, "compression_factor"),
        (_federated_study, "federated multi-user downlink study", {"federated_accuracy_vs_snr.png", "federated_mse_vs_snr.png"}, "snr_db"),
    ],
)
def test_game_and_federated_folders(make, title, figures, axis, tmp_path):
    """Studies run without figures: the report picks the study's drawer (as ``semalign figures``
    does), draws them and names the study."""
    make(tmp_path)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "figures").glob("*.png")} == figures
    page = Page.parse((tmp_path / "report.html").read_text())
    assert title in page.all_text() and len(page.images) == len(figures)
    assert all(png_caption(tmp_path / "figures" / name) in " ".join(f["caption"] for f in page.figures) for name in figures)
    assert {t["attrs"]["data-axis"] for t in page.tables_with("summary")} == {axis}
    assert json.loads((tmp_path / "manifest.json").read_text()) in [json.loads(p) for p in page.pres]


# ------------------------------------------------------------------------------ headless Chromium
def test_page_renders_in_headless_chromium(reported, tmp_path, chromium):
    executable = chromium
    from playwright.sync_api import sync_playwright

    out, _, _ = reported
    n_figures = len(list((out / "figures").glob("*.png")))
    shot = tmp_path / "report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto((out / "report.html").as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))")
            height = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(images) == n_figures
    broken = [i for i, image in enumerate(images) if not (image["complete"] and image["width"] > 0 and image["height"] > 0)]
    assert not broken, f"broken images: {broken}"
    # Nothing was fetched but the page itself (data: URIs are not requests that leave the page).
    assert [url for url in requests if not url.startswith(("file://", "data:"))] == []
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 50_000
    import struct

    width, shot_height = struct.unpack(">II", data[16:24])
    assert width == 1400 and shot_height == height > 2000  # the full page, figures and tables
