"""One self-contained HTML page describing a study's output folder: ``semalign report OUT_DIR``.

The page (``OUT_DIR/report.html`` by default) holds, in this order:

* a title naming the study and the folder, and a short overview (rows, experiments, methods, seeds);
* every PNG in ``OUT_DIR/figures/``, embedded as a ``data:image/png;base64`` URI, each with the
  caption stored in the PNG by the figure drawer (see :func:`~semalign.experiments.plotting.png_caption`);
* the conventions the rows record (SNR convention, channel variance, power, processing, device,
  versions, seeds, data set and encoders): the distinct values found in the rows, so what the page
  says is what the runs did;
* summary tables: mean ± std of the metrics (accuracy and MSE; for the game's convergence
  experiment, the fraction converged and the iteration count) over the rows of each group, one
  table per experiment, grouped by the study's natural keys (method, awareness, ... and the swept
  axes such as the compression factor or the SNR);
* the folder's ``manifest.json`` (what was run and how; a study's grid) and any ``config.json`` or
  ``config.yaml`` beside it, pretty-printed;
* the columns of ``results.parquet`` and the provenance of the page.

The page needs nothing else: inline CSS, images as data URIs, no scripts, no external resources, so
it can be mailed or archived as one file. It is built with the standard library (``html.escape``
on every interpolated value, ``base64``) and Polars; no template engine is needed for a page this
regular.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import json
import os
import platform
import struct
import warnings as warning_capture
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from semalign._cache import atomic_open
from semalign._version import __version__
from semalign.experiments.store import CREATE_HINT, check_output_folder, read_results

CONFIG_FILES = ("manifest.json", "config.json", "config.yaml")
"""Configuration files next to ``results.parquet`` (the engine writes ``manifest.json``); every one present is shown."""

CONVENTION_COLUMNS = (
    "dataset", "latents", "tx_encoder", "rx_encoder", "snr_convention", "channel_variance", "power", "processing",
    "pilot_method", "pilot_grouping", "device", "seed", "semalign_version", "torch_version", "python_version",
)  # fmt: skip
"""Row columns that record how a run was done; the page lists their distinct values."""

KEY_CANDIDATES = (
    "method", "awareness", "processing", "schedule", "pu_protection", "latents", "user_set", "pair",
    "tx_encoder", "rx_encoder", "snr_convention", "channel_variance", "power", "rho", "iterations",
    "pilots_per_class", "compression_factor", "n_tx", "channel_uses", "snr_db", "cross_gain_db", "pu_limit_db",
    "pilot_fraction", "n_pilots", "lam",
)  # fmt: skip
"""Columns a summary table may group by, in order: categorical keys first, then swept axes."""

AXIS_PRIORITY = (
    "compression_factor", "snr_db", "cross_gain_db", "pu_limit_db", "pilot_fraction", "n_pilots", "lam",
    "pilots_per_class", "n_tx", "channel_uses",
)  # fmt: skip
"""Swept axes a summary table may spread across its columns (the figures' x axes first)."""
MAX_AXIS_VALUES = 12

METRICS = ("accuracy", "mse")
FALLBACK_METRICS = ("converged", "iterations")  # rows without accuracy/MSE (the game's convergence runs)
MAX_TABLE_ROWS = 60
MAX_LISTED_VALUES = 12


@dataclass
class Report:
    """What :func:`write_report` did.

    Attributes:
        path: the HTML file written.
        study: what the folder holds: ``mimo``, ``game``, ``federated`` (a study), ``sweep``, or
            ``results`` (a folder without a manifest).
        figures: the PNGs embedded, in page order.
        redrawn: whether the figures were redrawn from ``results.parquet`` for this page.
        reason: why they were (or were not) redrawn.
        warnings: problems that did not stop the page (also shown on it).
    """

    path: Path
    study: str
    figures: list[Path]
    redrawn: bool
    reason: str
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------ the decisions
def figures_are_stale(out_dir: str | os.PathLike) -> tuple[bool, str]:
    """Whether the figures of ``out_dir`` should be redrawn before reporting, and why.

    They should when ``figures/`` is missing or holds no PNG, or when any PNG is older than
    ``results.parquet``: a resumed or extended run rewrites ``results.parquet`` after the figures
    were drawn (or with ``figures=False``), and a page must not show numbers and figures from
    different rows. Otherwise the existing figures are kept: redrawing is cheap but not free, and
    figures someone drew by hand into ``figures/`` are kept as they are.
    """
    out_dir = Path(out_dir)
    figures_dir = out_dir / "figures"
    if not figures_dir.is_dir():
        return True, "figures/ did not exist"
    pngs = sorted(figures_dir.glob("*.png"))
    if not pngs:
        return True, "figures/ held no PNG"
    results_time = (out_dir / "results.parquet").stat().st_mtime
    older = [p.name for p in pngs if p.stat().st_mtime < results_time]
    if older:
        return True, f"{len(older)} of {len(pngs)} figures were older than results.parquet"
    return False, "the figures were newer than results.parquet"


def summary_keys(frame: pl.DataFrame, candidates: tuple[str, ...] = KEY_CANDIDATES) -> list[str]:
    """The columns to group ``frame`` by: each candidate present, in order, that splits the rows into
    more groups than the keys already chosen. A column that is constant, or determined by earlier
    keys (``n_tx`` once ``compression_factor`` is chosen at one channel-use count, ``processing``
    once ``method`` is), is left out, so each table has only the axes that vary."""
    keys: list[str] = []
    groups = 1
    for column in candidates:
        if column not in frame.columns or frame[column].dtype == pl.Null:
            continue
        n = frame.select([*keys, column]).unique().height
        if n > groups:
            keys.append(column)
            groups = n
    return keys


def metrics_of(frame: pl.DataFrame) -> list[str]:
    """Metric columns summarised for ``frame``: accuracy and MSE where any row has them, else the
    convergence columns (fraction converged, iterations)."""
    found = [m for m in METRICS if m in frame.columns and frame[m].null_count() < frame.height]
    if found:
        return found
    return [m for m in FALLBACK_METRICS if m in frame.columns and frame[m].null_count() < frame.height]


def summary_table(frame: pl.DataFrame, keys: list[str], metrics: list[str]) -> pl.DataFrame:
    """Per group of ``keys``: ``<metric>_mean``, ``<metric>_std`` (null for one value),
    ``<metric>_n`` (values that are not null), ``rows`` and ``seeds`` (distinct seeds), sorted by
    the keys (nulls last). Booleans count as 0/1."""
    aggregations = []
    for metric in metrics:
        column = pl.col(metric).cast(pl.Float64)
        aggregations += [column.mean().alias(f"{metric}_mean"), column.std().alias(f"{metric}_std"), column.count().alias(f"{metric}_n")]
    aggregations.append(pl.len().alias("rows"))
    if "seed" in frame.columns:
        aggregations.append(pl.col("seed").n_unique().alias("seeds"))
    if not keys:
        return frame.select(aggregations)
    return frame.group_by(keys).agg(aggregations).sort(keys, nulls_last=True)


# --------------------------------------------------------------------------------------- formatting
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt_value(value) -> str:
    """A key or convention value as text: floats with up to 4 significant digits, null as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return str(value)


def _decimals(metric: str, mean: float) -> int | None:
    """Decimals shared by a mean and its std: 3 for accuracy-like metrics, else 4 significant digits
    of the mean (``None``: use scientific notation)."""
    import math

    if metric in ("accuracy", "converged"):
        return 3
    if mean == 0 or not math.isfinite(mean):
        return 3
    magnitude = math.floor(math.log10(abs(mean)))
    if magnitude >= 6 or magnitude <= -5:
        return None
    return max(0, 3 - magnitude)


def _fmt_mean_std(metric: str, mean: float | None, std: float | None) -> str:
    """``mean ± std`` with both at the same precision; the std is left out when it is null (one row)."""
    if mean is None:
        return "—"
    decimals = _decimals(metric, mean)
    fmt = (lambda v: f"{v:.3e}") if decimals is None else (lambda v: f"{v:.{decimals}f}")
    return fmt(mean) + ("" if std is None else f" ± {fmt(std)}")


def _metric_title(metric: str) -> str:
    return {"converged": "fraction converged", "mse": "MSE"}.get(metric, metric)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk."""
    if len(data) < 24 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _figure_title(path: Path) -> str:
    return path.stem.replace("_", " ")


def _compact_json(value, indent: int = 0, width: int = 96) -> str:
    """JSON with one key per line, but short lists and objects kept on one line."""
    pad = "  " * indent
    flat = json.dumps(value, ensure_ascii=False, default=str)
    if not isinstance(value, (dict, list)) or len(flat) + len(pad) <= width or not value:
        return flat
    if isinstance(value, list):
        items = [pad + "  " + _compact_json(v, indent + 1, width) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    items = [f"{pad}  {json.dumps(str(k), ensure_ascii=False)}: {_compact_json(v, indent + 1, width)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def _pretty_config(path: Path) -> tuple[str, str | None]:
    """(text to show, a note if it could not be parsed)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            return _compact_json(json.loads(text)), None
        except json.JSONDecodeError as error:
            return text, f"not valid JSON ({error}); shown as stored"
    return text.rstrip("\n"), None  # YAML is already meant for people


def _values_cell(series: pl.Series) -> str:
    """Distinct values of a column, sorted, with row counts where there are several (nulls last, as
    'not recorded')."""
    counts = dict(series.value_counts(name="n").rows())
    values = sorted((v for v in counts if v is not None), key=lambda v: (str(type(v)), v))
    if None in counts:
        values.append(None)
    several = len(values) > 1
    parts = []
    for value in values[:MAX_LISTED_VALUES]:
        label = "not recorded" if value is None else _fmt_value(value)
        count = f' <span class="count">({counts[value]} rows)</span>' if several else ""
        parts.append(f'<span class="value{" null" if value is None else ""}">{_e(label)}</span>{count}')
    if len(values) > MAX_LISTED_VALUES:
        parts.append(f'<span class="count">… and {len(values) - MAX_LISTED_VALUES} more</span>')
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------ sections
def _overview(results: pl.DataFrame) -> str:
    items = [("rows", f"{results.height:,}"), ("columns", str(results.width))]
    for column, label in (("experiment", "experiments"), ("method", "methods")):
        if column in results.columns:
            values = results[column].drop_nulls().unique().sort().to_list()
            items.append((label, ", ".join(map(str, values))))
    if "seed" in results.columns:
        seeds = results["seed"].drop_nulls().unique().sort().to_list()
        items.append(("seeds", f"{len(seeds)} ({', '.join(map(str, seeds[:MAX_LISTED_VALUES]))}{', …' if len(seeds) > MAX_LISTED_VALUES else ''})"))
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f'<table class="kv">{rows}</table>'


def _figures_section(figures: list[Path], note: str) -> str:
    if not figures:
        return f'<p class="note">No figures: {_e(note)}</p>'
    from semalign.experiments.plotting import png_caption

    cards = []
    for path in figures:
        data = path.read_bytes()
        caption = png_caption(path)
        size = _png_size(data)
        wide = size is not None and (size[0] > 1000 or size[0] > 1.6 * size[1])  # multi-panel figures get a full row
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        alt = caption or _figure_title(path)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        text = _e(caption) if caption else '<span class="null">no caption stored in this PNG (drawn before captions were stored; see the title in the image)</span>'
        cards.append(
            f'<figure class="{"wide" if wide else "narrow"}" id="fig-{_e(path.stem)}">'
            f'<img src="{uri}" alt="{_e(alt)}"{dims}>'
            f'<figcaption><span class="figname">{_e(path.name)}</span><span class="caption">{text}</span></figcaption></figure>'
        )
    return f'<p class="note">{_e(note)}</p><div class="figures">{"".join(cards)}</div>'


def _conventions_section(results: pl.DataFrame) -> str:
    rows = []
    for column in CONVENTION_COLUMNS:
        if column in results.columns:
            rows.append(f"<tr><th>{_e(column)}</th><td>{_values_cell(results[column])}</td></tr>")
    if not rows:
        return '<p class="note">The rows record none of the convention columns.</p>'
    return (
        '<p class="note">Distinct values found in the rows of results.parquet (with row counts where a column has several; '
        '“not recorded”: rows where the setting does not apply, such as the processing of a baseline).</p>'
        f'<table class="kv conventions">{"".join(rows)}</table>'
    )


def pivot_axis(frame: pl.DataFrame, keys: list[str], experiment: str | None = None) -> str | None:
    """The key to spread across a table's columns, among the swept axes (:data:`AXIS_PRIORITY`) in
    ``keys`` with at most :data:`MAX_AXIS_VALUES` distinct values: the one the experiment is named
    after (``snr`` -> ``snr_db``, ``cross-gain`` -> ``cross_gain_db``), else the one with the most
    values, ties broken by :data:`AXIS_PRIORITY`; ``None``: one long table."""
    axes = [c for c in AXIS_PRIORITY if c in keys and frame[c].n_unique() <= MAX_AXIS_VALUES]
    if experiment:
        named = [c for c in axes if c.startswith(experiment.replace("-", "_"))]
        if named:
            return named[0]
    return max(axes, key=lambda c: (frame[c].n_unique(), -AXIS_PRIORITY.index(c))) if axes else None


def _cell(metric: str, row: dict | None) -> str:
    if row is None:
        return '<td class="num empty"></td>'
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    exact = f"mean={mean!r}; std={std!r}; values={row[f'{metric}_n']}; rows={row['rows']}" + (f"; seeds={row['seeds']}" if "seeds" in row else "")
    return f'<td class="num" title="{_e(exact)}">{_e(_fmt_mean_std(metric, mean, std))}</td>'


def _truncation_note(shown: int, total: int) -> str:
    if total <= shown:
        return ""
    return f'<p class="note truncated">Showing the first {shown} of {total} rows of this table; every row is in results.parquet.</p>'


def _pivot_tables(name: str, table: pl.DataFrame, keys: list[str], axis: str, metrics: list[str]) -> str:
    """One table per metric: a row per combination of the other keys, a column per ``axis`` value."""
    row_keys = [k for k in keys if k != axis]
    axis_values = table.select(pl.col(axis).unique().sort(nulls_last=True))[axis].to_list()
    groups: dict[tuple, dict] = {}
    for row in table.iter_rows(named=True):
        groups.setdefault(tuple(row[k] for k in row_keys), {})[row[axis]] = row
    blocks = []
    for metric in metrics:
        head = "".join(f'<th class="key" rowspan="2">{_e(k)}</th>' for k in row_keys)
        head += f'<th class="axis" colspan="{len(axis_values)}">{_e(_metric_title(metric))} (mean ± std) by {_e(axis)}</th>'
        head2 = "".join(f'<th class="num">{_e(_fmt_value(v)) if v is not None else "n/a"}</th>' for v in axis_values)
        body = []
        for group_key, cells in list(groups.items())[:MAX_TABLE_ROWS]:
            key_cells = "".join(f'<td class="key">{_e(_fmt_value(v))}</td>' for v in group_key)
            body.append("<tr>" + key_cells + "".join(_cell(metric, cells.get(v)) for v in axis_values) + "</tr>")
        blocks.append(
            f'<div class="scroll"><table class="summary pivot" data-experiment="{_e(name)}" data-metric="{_e(metric)}" data-axis="{_e(axis)}" data-keys="{_e(",".join(row_keys))}">'
            f"<thead><tr>{head}</tr><tr>{head2}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            + _truncation_note(min(len(groups), MAX_TABLE_ROWS), len(groups))
        )
    return "".join(blocks)


def _long_table(name: str, table: pl.DataFrame, keys: list[str], metrics: list[str]) -> str:
    """One row per group of ``keys``, a column per metric, with the group's row and seed counts."""
    head = "".join(f'<th class="key">{_e(k)}</th>' for k in keys)
    head += "".join(f'<th class="num">{_e(_metric_title(m))}<br><small>mean ± std</small></th>' for m in metrics)
    head += '<th class="num">rows</th>' + ('<th class="num">seeds</th>' if "seeds" in table.columns else "")
    body = []
    for row in table.head(MAX_TABLE_ROWS).iter_rows(named=True):
        cells = "".join(f'<td class="key">{_e(_fmt_value(row[k]))}</td>' for k in keys)
        cells += "".join(_cell(m, row) for m in metrics)
        cells += f'<td class="num">{row["rows"]}</td>' + (f'<td class="num">{row["seeds"]}</td>' if "seeds" in table.columns else "")
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="summary long" data-experiment="{_e(name)}" data-metric="{_e(",".join(metrics))}" data-axis="" data-keys="{_e(",".join(keys))}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>" + _truncation_note(min(table.height, MAX_TABLE_ROWS), table.height)
    )


def _summary_section(results: pl.DataFrame) -> tuple[str, list[tuple[str, str]]]:
    """The summary tables (one block per experiment), and (anchor, name) entries for a contents line."""
    if results.height == 0:
        return '<p class="note">results.parquet has no rows.</p>', []
    if "experiment" in results.columns:
        names = results["experiment"].unique(maintain_order=True).to_list()
        experiments = [(e, results.filter(pl.col("experiment") == e) if e is not None else results.filter(pl.col("experiment").is_null())) for e in names]
    else:
        experiments = [(None, results)]
    blocks, entries = [], []
    for experiment, frame in experiments:
        name = "all rows" if experiment is None else str(experiment)
        anchor = "summary-" + "".join(c if c.isalnum() else "-" for c in name)
        entries.append((anchor, name))
        heading = f'<h3 id="{_e(anchor)}">{_e(name)} <small>({frame.height:,} rows)</small></h3>'
        keys, metrics = summary_keys(frame), metrics_of(frame)
        if not metrics:
            blocks.append(heading + f'<p class="note">No metric columns ({_e(", ".join(METRICS + FALLBACK_METRICS))}) in these rows.</p>')
            continue
        table = summary_table(frame, keys, metrics)
        fixed = []
        for column in KEY_CANDIDATES:
            if column in frame.columns and column not in keys:
                values = frame[column].drop_nulls().unique()
                if values.len() == 1:
                    fixed.append(f"{column} = {_fmt_value(values[0])}" + (" (where recorded)" if frame[column].null_count() else ""))
        low, high = table["rows"].min(), table["rows"].max()
        counted = f"{low} rows" if low == high else f"{low} to {high} rows"
        if "seeds" in table.columns:
            seeds_low, seeds_high = table["seeds"].min(), table["seeds"].max()
            counted += f" ({seeds_low} seeds)" if seeds_low == seeds_high else f" ({seeds_low} to {seeds_high} seeds)"
        note = (
            f"Grouped by {', '.join(keys) if keys else 'nothing'}; each value is the mean ± std over the {counted} of its group "
            "(seeds, and users or pairs where those are not a key); no std for a single row; hover a value for full precision."
        )
        if fixed:
            note += f" Fixed in these rows: {'; '.join(fixed)}."
        axis = pivot_axis(frame, keys, experiment)
        tables = _pivot_tables(name, table, keys, axis, metrics) if axis else _long_table(name, table, keys, metrics)
        blocks.append(heading + f'<p class="note">{_e(note)}</p>' + tables)
    return "".join(blocks), entries


def _config_section(out_dir: Path) -> str:
    found = [out_dir / name for name in CONFIG_FILES if (out_dir / name).is_file()]
    if not found:
        return f'<p class="note">No configuration file found (looked for {_e(", ".join(CONFIG_FILES))}).</p>'
    blocks = []
    for path in found:
        text, note = _pretty_config(path)
        note_html = f'<p class="note">{_e(note)}</p>' if note else ""
        blocks.append(f'<h3>{_e(path.name)}</h3>{note_html}<pre class="config">{_e(text)}</pre>')
    return "".join(blocks)


def _columns_section(results: pl.DataFrame) -> str:
    rows = []
    for name, dtype in results.schema.items():
        series = results[name]
        try:
            distinct = str(series.n_unique())
        except Exception:  # nested types without a hash
            distinct = "—"
        rows.append(f'<tr><td class="key">{_e(name)}</td><td>{_e(dtype)}</td><td class="num">{distinct}</td><td class="num">{series.null_count()}</td></tr>')
    return (
        f"<details><summary>{results.width} columns (name, type, distinct values, nulls)</summary>"
        f'<table class="listing columns"><thead><tr><th class="key">column</th><th>type</th><th class="num">distinct</th><th class="num">nulls</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></details>'
    )


def _provenance_section(out_dir: Path, results_path: Path, report: Report, generated: str) -> str:
    digest = hashlib.sha256(results_path.read_bytes()).hexdigest()
    stat = results_path.stat()
    modified = _dt.datetime.fromtimestamp(stat.st_mtime, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    items = [
        ("generated", generated),
        ("by", f"semalign {__version__} (semalign report), Python {platform.python_version()}, Polars {pl.__version__}"),
        ("folder", str(out_dir.resolve())),
        ("results.parquet", f"{stat.st_size:,} bytes, modified {modified}, sha256 {digest}"),
        ("figures", ("redrawn from results.parquet for this page: " if report.redrawn else "as found in figures/: ") + report.reason),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f'<table class="kv">{rows}</table>'


_CSS = """
:root { --ink: #1d232b; --muted: #5b6673; --line: #d5dbe2; --band: #f4f6f9; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif; color: var(--ink); background: #fff; }
header { background: #17324d; color: #fff; padding: 22px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header .folder { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; opacity: .85; word-break: break-all; }
nav { margin-top: 12px; font-size: 13px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: #cfe3ff; text-decoration: none; }
main { padding: 8px 32px 40px; max-width: 1600px; }
h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
h3 small { color: var(--muted); font-weight: normal; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
.warning { background: #fff4e5; border: 1px solid #f0b866; padding: 8px 12px; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; vertical-align: top; text-align: left; }
thead th { background: #e8edf3; }
th small { font-weight: normal; color: var(--muted); }
table.kv th { background: var(--band); font-weight: 600; white-space: nowrap; }
table.summary tbody tr:nth-child(even), table.listing tbody tr:nth-child(even) { background: var(--band); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.key { white-space: nowrap; }
th.axis { text-align: center; }
td.empty { background: repeating-linear-gradient(45deg, transparent 0 4px, #eef1f4 4px 6px); }
.conventions .value { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.count, .null { color: var(--muted); }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(520px, 100%), 1fr)); gap: 18px; }
.scroll { max-width: 100%; overflow-x: auto; }
table.kv td { overflow-wrap: anywhere; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px; background: #fff; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 8px; font-size: 13px; color: var(--muted); white-space: pre-line; }
figcaption .figname { display: block; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; color: var(--ink); font-size: 12.5px; }
pre.config { background: var(--band); border: 1px solid var(--line); border-radius: 4px; padding: 10px 14px; font-size: 12.5px; line-height: 1.4; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
footer { color: var(--muted); font-size: 12px; padding: 0 32px 24px; }
"""


# ------------------------------------------------------------------------------------------ the page
def write_report(out_dir: str | os.PathLike, *, redraw: bool | None = None, output: str | os.PathLike | None = None) -> Report:
    """Write the HTML report of a study's output folder; returns what was done.

    Args:
        out_dir: a folder holding ``results.parquet`` (as written by ``semalign reproduce ...``).
        redraw: ``True`` redraws every figure from ``results.parquet`` (nothing is rerun), ``False``
            reports the figures as found, ``None`` (default) redraws only when
            :func:`figures_are_stale` says so (``figures/`` missing or older than the results).
        output: where to write the page (default ``out_dir/report.html``); written through a
            temporary file and a rename, so a failure leaves no half-written page.

    Raises:
        FileNotFoundError: ``out_dir`` or ``out_dir/results.parquet`` does not exist (the message
            names the path and the command that creates it).
        ValueError: ``output`` cannot be written (a folder, under a file, or not writable).
    """
    from semalign.experiments.figures import describe, draw_figures, folder_kind
    from semalign.experiments.manifest import read_manifest

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        what = "is not a folder" if out_dir.exists() else "does not exist"
        raise FileNotFoundError(f"{out_dir} {what}; create it with {CREATE_HINT.format(out=out_dir)}")
    results_path = out_dir / "results.parquet"
    with warning_capture.catch_warnings(record=True) as repairs:  # a damaged file rebuilt: say so on the page
        warning_capture.simplefilter("always")
        results = read_results(out_dir)
    warnings: list[str] = [str(repair.message) for repair in repairs]
    try:
        study = folder_kind(read_manifest(out_dir))
    except (FileNotFoundError, ValueError) as error:  # rows from elsewhere: report the numbers, draw nothing
        study = "results"
        warnings.append(f"{error}; figures cannot be drawn without it")
    output = Path(output) if output is not None else out_dir / "report.html"
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; expected the path of the HTML file to write")
    check_output_folder(output.parent)  # before any figure is drawn

    figures_dir = out_dir / "figures"
    if redraw is None:
        redraw, reason = figures_are_stale(out_dir)
    else:
        reason = "--redraw asked for it" if redraw else "--no-redraw turned redrawing off"
    redrawn = False
    if redraw and results.height == 0:
        warnings.append("results.parquet has no rows: nothing to draw")
    elif redraw and study != "results":
        try:
            draw_figures(out_dir, results)
            redrawn = True
        except Exception as error:  # a partial or unusual result set: report the numbers anyway
            warnings.append(f"the figures could not be redrawn ({type(error).__name__}: {error}); showing the figures found in figures/")
    figures = sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []
    report = Report(output, study, figures, redrawn, reason, warnings)

    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    description = describe(study)
    title = f"{description} — {out_dir.resolve().name}"
    summary, entries = _summary_section(results)
    figure_note = (
        f"{len(figures)} figure{'s' if len(figures) != 1 else ''} from figures/, "
        + ("redrawn from results.parquet for this page" if redrawn else "as found")
        + f" ({reason}). Captions are those stored in each PNG."
    )
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in (("overview", "Overview"), ("figures", "Figures"), ("conventions", "Conventions"), ("numbers", "Numbers"), ("configuration", "Configuration"), ("columns", "Columns"), ("provenance", "Provenance")))
    toc = " · ".join(f'<a href="#{_e(a)}">{_e(t)}</a>' for a, t in entries)
    warning_html = "".join(f'<p class="warning">{_e(w)}</p>' for w in warnings)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="semalign {_e(__version__)}">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>semalign report: {_e(description)}, {_e(out_dir.resolve().name)}</h1>
<div class="folder">{_e(out_dir.resolve())}</div>
<nav>{nav}</nav>
</header>
<main>
{warning_html}
<h2 id="overview">Overview</h2>
{_overview(results)}
<h2 id="figures">Figures</h2>
{_figures_section(figures, figure_note if figures else "figures/ holds no PNG" + ("" if redraw else f" ({reason}); run with --redraw to draw them"))}
<h2 id="conventions">Conventions</h2>
{_conventions_section(results)}
<h2 id="numbers">Numbers</h2>
<p class="note">Tables per experiment{": " + toc if toc else ""}.</p>
{summary}
<h2 id="configuration">Configuration</h2>
{_config_section(out_dir)}
<h2 id="columns">Columns</h2>
<p class="note">results.parquet: {results.height:,} rows × {results.width} columns.</p>
{_columns_section(results)}
<h2 id="provenance">Provenance</h2>
{_provenance_section(out_dir, results_path, report, generated)}
</main>
<footer>Generated {_e(generated)} by semalign {_e(__version__)}. Self-contained: figures are embedded; no network access is needed to view this page.</footer>
</body>
</html>
"""
    try:
        with atomic_open(output) as handle:  # creates missing folders; a failure leaves no half page
            handle.write(page.encode("utf-8"))
    except OSError as error:
        raise ValueError(f"cannot write the report to {output} ({error.strerror or error}); choose a path you can write to") from None
    return report
