"""Command-line interface: ``semalign reproduce mimo|game|federated``, ``semalign run`` (sweeps) and
``semalign figures``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Latent-space alignment for semantic MIMO communications.")
reproduce_app = typer.Typer(no_args_is_help=True, help="Reproduce a paper's studies on offline data.")
app.add_typer(reproduce_app, name="reproduce")
console = Console()


def _parse_seeds(seeds: str | None) -> tuple[int, ...] | None:
    if seeds is None:
        return None
    try:
        parsed = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter(f"--seeds must be comma-separated integers such as 27,42; got {seeds!r}") from None
    if not parsed:
        raise typer.BadParameter("--seeds must list at least one integer")
    return parsed


def _print_summary(results) -> None:
    import polars as pl

    table = Table(title="Mean accuracy over seeds (compression: all budgets; snr: all SNRs)")
    for column in ("experiment", "method", "awareness", "accuracy", "mse", "runs"):
        table.add_column(column, justify="right" if column in ("accuracy", "mse", "runs") else "left")
    summary = (
        results.group_by(["experiment", "method", "awareness"])
        .agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.len().alias("runs"))
        .sort(["experiment", "method", "awareness"])
    )
    for row in summary.iter_rows(named=True):
        table.add_row(row["experiment"], row["method"], row["awareness"], f"{row['accuracy']:.3f}", f"{row['mse']:.4f}", str(row["runs"]))
    console.print(table)


@reproduce_app.command("mimo")
def reproduce_mimo(
    out: Path = typer.Option(Path("semalign-results/mimo"), "--out", help="Output folder (results.parquet, figures/, parts/)."),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every pilot budget and SNR)."),
    seeds: str = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 27,42 (default: 27,42 quick; six seeds full)."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu or cuda."),
    latents: str = typer.Option("digits", "--latents", help="Latent source: digits (default), synthetic, or a .npz/.safetensors/.pt file."),
    snr_convention: str = typer.Option("total", "--snr-convention", help="SNR convention: total or per-antenna."),
    channel_variance: float = typer.Option(1.0, "--channel-variance", help="Variance of each channel entry (published code: 0.5)."),
    preset: str = typer.Option(None, "--preset", help="paper-mimo: the published study (CIFAR-10, ViT-S/16 -> ViT-B/16, its grid and noise level); fixes latents, grid and noise (--seeds, --device, --out still apply). Extract the latents first (semalign latents extract)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Single-link study: accuracy vs compression factor, vs SNR and vs inference FLOPs for every method.

    Resumes: tasks already stored in OUT/parts are skipped.
    """
    from semalign.experiments.mimo import full_grid, quick_grid

    grid = full_grid() if full else quick_grid()
    options = {}
    if latents.endswith((".npz", ".safetensors", ".pt")):
        latents, options = "file", {"path": latents}
    try:
        if preset:
            from semalign.experiments.presets import preset_grid

            grid = preset_grid(preset, "mimo")
        else:
            grid = replace(grid, latents=latents, latents_options=options, snr_convention=snr_convention, channel_variance=channel_variance)
        parsed = _parse_seeds(seeds)
        if parsed:
            grid = replace(grid, seeds=parsed)
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {device!r} was requested but CUDA is not available on this machine")
        from semalign.experiments.mimo import run_mimo

        results = run_mimo(grid, out, device=device, progress=progress)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    _print_summary(results)
    console.print(f"results: {out / 'results.parquet'} ({results.height} rows); figures: {out / 'figures'}")


@reproduce_app.command("game")
def reproduce_game(
    out: Path = typer.Option(Path("semalign-results/game"), "--out", help="Output folder (results.parquet, figures/, parts/)."),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every point)."),
    seeds: str = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 27,42 (default: 27,42 quick; six seeds full)."),
    latents: str = typer.Option("digits", "--latents", help="Secondary pairs: digits (zoo encoders, default) or synthetic agents."),
    schedule: str = typer.Option("gauss-seidel", "--schedule", help="Update schedule of the games: jacobi, gauss-seidel or async."),
    snr_db: float = typer.Option(20.0, "--snr-db", help="SNR in dB (convention: --snr-convention)."),
    snr_convention: str = typer.Option("total", "--snr-convention", help="SNR convention: total or per-antenna."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Interference game with primary users: per-pair accuracy vs compression, cross-channel gain and
    the primary users' interference limit, and convergence vs the conditions C1/C2, for the
    fixed-eigenmode and full-MIMO games and the baselines (ignore-interference, centralized, orthogonal).

    Resumes: tasks already stored in OUT/parts are skipped.
    """
    from semalign.experiments.game import full_grid, quick_grid, run_game

    try:
        grid = (full_grid if full else quick_grid)(latents=latents, schedule=schedule, snr_db=snr_db, snr_convention=snr_convention)
        parsed = _parse_seeds(seeds)
        if parsed:
            grid = replace(grid, seeds=parsed)
        results = run_game(grid, out, progress=progress)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    _print_game_summary(results)
    console.print(f"results: {out / 'results.parquet'} ({results.height} rows); figures: {out / 'figures'}")


def _print_game_summary(results) -> None:
    import polars as pl

    table = Table(title="Mean over seeds and pairs (convergence: fraction of instances converged)")
    for column in ("experiment", "method", "accuracy", "mse", "converged", "rows"):
        table.add_column(column, justify="left" if column in ("experiment", "method") else "right")
    summary = (
        results.group_by(["experiment", "method"])
        .agg(pl.col("accuracy").mean() if "accuracy" in results.columns else pl.lit(None).alias("accuracy"), pl.col("mse").mean() if "mse" in results.columns else pl.lit(None).alias("mse"), pl.col("converged").cast(pl.Float64).mean(), pl.len().alias("rows"))
        .sort(["experiment", "method"])
    )
    for row in summary.iter_rows(named=True):
        accuracy = "" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        mse = "" if row["mse"] is None else f"{row['mse']:.4f}"
        table.add_row(row["experiment"], row["method"], accuracy, mse, f"{row['converged']:.2f}", str(row["rows"]))
    console.print(table)


@reproduce_app.command("federated")
def reproduce_federated(
    out: Path = typer.Option(Path("semalign-results/federated"), "--out", help="Output folder (results.parquet, figures/, parts/)."),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every point)."),
    seeds: str = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 27,42 (default: 27,42 quick; six seeds full)."),
    latents: str = typer.Option("digits", "--latents", help="Users: digits (zoo encoders, default) or synthetic agents (then the heterogeneity study uses synthetic agents only)."),
    snr_convention: str = typer.Option("total", "--snr-convention", help="SNR convention: total or per-antenna."),
    channel_variance: float = typer.Option(1.0, "--channel-variance", help="Variance of each channel entry (published code: 0.5)."),
    baseline_processing: str = typer.Option("strictly-linear", "--baseline-processing", help="First-K/Top-K users' map: strictly-linear (the federated equalisers' class) or widely-linear."),
    processing: str = typer.Option("strictly-linear", "--processing", help="Federated protocol's maps: strictly-linear (published) or widely-linear (real maps, real composite channel)."),
    executor: str = typer.Option("local", "--executor", help="local (one process) or dask (AP and users as Dask actors on separate workers)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (default with --executor dask: a local cluster)."),
    preset: str = typer.Option(None, "--preset", help="paper-federated: the published study (CIFAR-10, ViT-Tiny AP, ten timm users, its grid and noise level); fixes users, grid and noise (--seeds, --processing, --executor still apply). Extract the latents first (semalign latents extract)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Federated multi-user downlink: per-user accuracy vs compression factor, SNR, homogeneous vs
    heterogeneous user sets and the fraction of pilots, for the shared pre-equaliser (federated-admm,
    federated-prox), multi-link and the First-K / Top-K baselines.

    Resumes: tasks already stored in OUT/parts are skipped.
    """
    from semalign.experiments.federated import full_grid, quick_grid, run_federated

    try:
        if preset:
            from semalign.experiments.presets import preset_grid

            grid = replace(preset_grid(preset, "federated"), baseline_processing=baseline_processing, processing=processing)
        else:
            options = dict(latents=latents, snr_convention=snr_convention, channel_variance=channel_variance, baseline_processing=baseline_processing, processing=processing)
            if latents == "synthetic":
                options["heterogeneity_sources"] = ("synthetic",)
            grid = (full_grid if full else quick_grid)(**options)
        parsed = _parse_seeds(seeds)
        if parsed:
            grid = replace(grid, seeds=parsed)
        results = run_federated(grid, out, progress=progress, executor=executor, scheduler=scheduler)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    _print_federated_summary(results)
    console.print(f"results: {out / 'results.parquet'} ({results.height} rows); figures: {out / 'figures'}")


def _print_federated_summary(results) -> None:
    import polars as pl

    table = Table(title="Mean over users, seeds and settings (heterogeneity: per user set)")
    for column in ("experiment", "method", "user set", "accuracy", "mse", "rows"):
        table.add_column(column, justify="left" if column in ("experiment", "method", "user set") else "right")
    summary = (
        results.group_by(["experiment", "method", "latents", "user_set"])
        .agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.len().alias("rows"))
        .sort(["experiment", "method", "latents", "user_set"])
    )
    short = {"all": "all", "homogeneous": "homo", "heterogeneous": "hetero", "single": "alone"}
    for row in summary.iter_rows(named=True):
        user_set = f"{row['latents']}/{short.get(row['user_set'], row['user_set'])}"
        table.add_row(row["experiment"], row["method"], user_set, f"{row['accuracy']:.3f}", f"{row['mse']:.4f}", str(row["rows"]))
    console.print(table)


@app.command("run", context_settings={"allow_extra_args": False})
def run(
    experiment: str = typer.Argument(..., help="Experiment to run: link (single link), game (interference game) or federated (multi-user downlink)."),
    overrides: list[str] = typer.Argument(None, help="key=value settings; with -m, comma lists (snr_db=-10,0,10) or range(a,b) sweep a key."),
    multirun: bool = typer.Option(False, "-m", "--multirun", help="Sweep: every comma list is a dimension of the grid of runs."),
    config: Path = typer.Option(None, "--config", help="YAML file of key: value (a list is a sweep dimension); command-line overrides win."),
    out: Path = typer.Option(None, "--out", help="Output folder (default semalign-results/run/EXPERIMENT): results.parquet, parts/, sweep.json, figures/."),
    executor: str = typer.Option("local", "--executor", help="local (this process) or dask (a local Dask cluster, or --scheduler)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (implies --executor dask)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes of the local Dask cluster."),
    device: str = typer.Option("cpu", "--device", help="Torch device of the solvers: cpu or cuda."),
    batch: bool = typer.Option(True, "--batch/--no-batch", help="Fit runs that differ only in SNR (and the neural lam) as one batched call."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the runs and batches the sweep would execute, and stop."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (runs done, runs/s, time left)."),
) -> None:
    """Run one configuration or a sweep of an experiment, e.g.

    semalign run link method=linear-admm,first-k snr_db=-20,-10,0,10,20 seed=27,42,100 n_antennas=1,2,4,8 -m

    Results stream into OUT/parts as batches finish; rerunning resumes (finished runs are skipped).
    Unknown keys or bad values are reported with the valid keys before anything runs.
    """
    from semalign.experiments.overrides import expand, parse_overrides, read_config_file
    from semalign.experiments.sweep import get_experiment, group_runs, run_sweep

    if scheduler:
        executor = "dask"
    try:
        spec = get_experiment(experiment)
        sweep = read_config_file(config, spec.config_type) if config else {}
        if config and not multirun and any(len(v) > 1 for v in sweep.values()):
            raise ValueError(f"{config} lists several values for {', '.join(k for k, v in sweep.items() if len(v) > 1)}; add -m (multirun) to sweep")
        sweep.update(parse_overrides(list(overrides or []), spec.config_type, multirun=multirun))
        runs = expand(spec.config_type, sweep)
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"--device {device!r} was requested but CUDA is not available on this machine")
        if dry_run:
            groups = group_runs(spec, runs, batch=batch)
            swept = {k: v for k, v in sweep.items() if len(v) > 1}
            console.print(f"{experiment}: {len(runs)} runs in {len(groups)} batched calls; swept: " + (", ".join(f"{k}={','.join(map(str, v))}" for k, v in swept.items()) or "nothing"))
            return
        out = out or Path("semalign-results/run") / experiment
        results = run_sweep(spec, runs, out, executor=executor, scheduler=scheduler, workers=workers, device=device, batch=batch, progress=progress)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from None
    from semalign.experiments.figures import draw_sweep_figures

    swept = [k for k, v in sweep.items() if len(v) > 1]
    drawn = draw_sweep_figures(results, out / "figures", swept)
    _print_sweep_summary(results, swept)
    console.print(f"results: {out / 'results.parquet'} ({results.height} rows); figures: {len(drawn)} in {out / 'figures'}")


def _print_sweep_summary(results, swept: list[str]) -> None:
    import polars as pl

    keys = list(dict.fromkeys(k for k in ("method", "awareness", *swept) if k in results.columns and k != "seed"))
    many = [u for u, c in (("pairs", "pair"), ("users", "user")) if c in results.columns]
    title = "Mean over " + " and ".join((["seeds"] if "seed" in swept else []) + many) if "seed" in swept or many else "Results"
    table = Table(title=title)
    for column in (*keys, "accuracy", "mse", "rows"):
        table.add_column(column, justify="right" if column not in ("method", "awareness") else "left")
    summary = results.group_by(keys).agg(pl.col("accuracy").mean(), pl.col("mse").mean(), pl.len().alias("rows")).sort(keys, nulls_last=True)
    for row in summary.head(60).iter_rows(named=True):
        table.add_row(*(str(row[k]) for k in keys), f"{row['accuracy']:.3f}", f"{row['mse']:.4f}", str(row["rows"]))
    console.print(table)
    if summary.height > 60:
        console.print(f"({summary.height - 60} more lines in results.parquet)")


@app.command("figures")
def figures(out: Path = typer.Argument(..., help="An output folder holding results.parquet.")) -> None:
    """Redraw the figures of OUT from its stored results (no rerun); single-link, game or federated results."""
    import polars as pl

    from semalign.experiments.figures import draw_figures

    path = out / "results.parquet"
    if not path.exists():
        console.print(f"[red]error:[/] {path} does not exist; run `semalign reproduce mimo --out {out}` (or `reproduce game`, `reproduce federated`) first")
        raise typer.Exit(code=2)
    for drawn in draw_figures(pl.read_parquet(path), out / "figures"):
        console.print(f"wrote {drawn}")


@app.command("report")
def report(
    out: Path = typer.Argument(..., help="An output folder holding results.parquet (and grid.json or another config file, figures/)."),
    redraw: bool = typer.Option(None, "--redraw/--no-redraw", help="Redraw the figures from results.parquet first (default: only if figures/ is missing or older than results.parquet)."),
    output: Path = typer.Option(None, "--output", help="The HTML file to write (default: OUT/report.html)."),
) -> None:
    """Write OUT/report.html: one self-contained page with the figures, conventions, summary tables,
    configuration and provenance of a study's results (nothing is rerun)."""
    from rich.markup import escape

    from semalign.experiments.report import write_report

    try:
        written = write_report(out, redraw=redraw, output=output)
    except (FileNotFoundError, ValueError) as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    for warning in written.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    drawn = f"redrawn ({written.reason})" if written.redrawn else f"as found ({written.reason})"
    console.print(f"wrote {escape(str(written.path))}: {len(written.figures)} figures {escape(drawn)}", soft_wrap=True)


if __name__ == "__main__":
    app()
