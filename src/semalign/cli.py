"""Command-line interface: ``semalign reproduce mimo|game|federated|robustness`` (studies), ``semalign run``
(sweeps), ``semalign figures``, ``semalign report`` and ``semalign latents extract|list``.

The only module that knows the terminal: everything else raises exceptions and returns tables.
Exit codes: 0 done, 2 bad input, 3 data, weights or an extra unavailable, 130 interrupted (rerun the
same command to resume).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Latent-space alignment for semantic MIMO communications.")
reproduce_app = typer.Typer(no_args_is_help=True, help="Reproduce a paper's studies on offline data.")
app.add_typer(reproduce_app, name="reproduce")
console = Console()
_EXIT_BAD_INPUT, _EXIT_UNAVAILABLE, _EXIT_INTERRUPTED = 2, 3, 130


@app.callback()
def _main(
    threads: int = typer.Option(
        None, "--threads", min=1,
        help="Torch intra-op threads (default: $SEMALIGN_THREADS, else the cores this process may use). Use 1 beside other busy jobs.",
    ),
) -> None:
    """Latent-space alignment for semantic MIMO communications."""
    import warnings

    from semalign._threads import configure_threads

    warnings.showwarning = _show_warning

    try:
        configure_threads(threads)
    except ValueError as error:
        raise _bad_input(error) from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one yellow line on stderr (what happened and what was done), without the source
    line Python would print."""
    Console(stderr=True).print(f"[yellow]warning:[/] {escape(' '.join(str(message).split()))}", soft_wrap=True)


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


def _unavailable() -> type[Exception]:
    """The error of a latent source whose data, weights or cache is missing (exit code 3)."""
    from semalign.latents import LatentsUnavailable

    return LatentsUnavailable


def _with_preset_command(error: Exception, preset: str | None, study: str) -> str:
    """``error``'s message, plus the command that extracts every latent the preset needs."""
    if not preset:
        return str(error)
    from semalign.experiments.studies.presets import extract_command, get_preset

    command = extract_command(get_preset(preset, study))
    if command in str(error):
        return str(error)
    return f"{error} Preset {preset} needs the latents of every one of its encoders: {command}"


def _check_device(device: str) -> None:
    if device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r} is not a torch device semalign runs on; expected cpu or cuda")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {device!r} was requested but CUDA is not available on this machine")


def _print_table(title: str, frame) -> None:
    """A result table: text columns left, numbers right (accuracy-like with 3 decimals, MSE with 4)."""
    def cell(name: str, value) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.4f}" if name.startswith("mse") else f"{value:.3f}" if name.startswith(("acc", "converged")) else f"{value:g}"
        return escape(str(value))

    rows = [[cell(name, value) for name, value in row.items()] for row in frame.iter_rows(named=True)]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)  # no outer border: more room for the values
    for k, (name, dtype) in enumerate(frame.schema.items()):
        # Values are never cut (a narrow terminal wraps the headers instead).
        widest = max((len(r[k]) for r in rows), default=0)
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", min_width=widest, overflow="fold")
    for cells in rows:
        table.add_row(*cells)
    console.print(table, crop=False)  # wider than a narrow terminal rather than cut


def _run_study(name: str, grid, out: Path, *, preset: str | None = None, progress: bool = True, **options) -> None:
    """Run a study and print its summary; errors become the CLI's one-line messages and exit codes."""
    from semalign.experiments.studies import get_study, run_study

    study = get_study(name)
    try:
        results = run_study(study, grid, out, progress=progress, **options)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] finished runs are stored in {escape(str(out / 'parts'))}; rerun the same command to resume")
        raise typer.Exit(code=_EXIT_INTERRUPTED) from None
    except ValueError as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(code=_EXIT_BAD_INPUT) from None
    except _unavailable() as error:
        raise _latents_error(_with_preset_command(error, preset, name), _EXIT_UNAVAILABLE) from None
    from semalign.experiments.store import succeeded

    _print_table(*study.summary(succeeded(results)))
    console.print(f"results: {escape(str(out / 'results.parquet'))} ({results.height} rows); figures: {escape(str(out / 'figures'))}")


def _with_seeds(grid, seeds: str | None):
    """``grid`` with the ``--seeds`` given (unchanged without)."""
    parsed = _parse_seeds(seeds)
    return replace(grid, seeds=parsed) if parsed else grid


def _out(study: str):
    return typer.Option(Path(f"semalign-results/{study}"), "--out", help="Output folder (results.parquet, figures/, parts/, manifest.json).")


# Options every study shares.
_SEEDS = typer.Option(None, "--seeds", help="Comma-separated seeds, e.g. 27,42 (default: 27,42 quick; six seeds full).")
_SNR_CONVENTION = typer.Option(
    None, "--snr-convention",
    help="SNR convention: total (default), per-antenna (the published single-link code's), or published-federated (compatibility: the published federated code's noise level). With --preset it replaces the preset's per-antenna.",
)  # fmt: skip
_CHANNEL_VARIANCE = typer.Option(1.0, "--channel-variance", help="Variance of each channel entry (published code: 0.5).")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.")
_DEVICE = typer.Option("cpu", "--device", help="Torch device: cpu or cuda.")
_LINK_LATENTS = typer.Option("digits", "--latents", help="Latent source: digits (default), synthetic, or a .npz/.safetensors/.pt file.")


def _link_latents(latents: str) -> tuple[str, dict]:
    """``--latents`` of the single-link studies as (source, loader options): a file path is the
    ``file`` source."""
    if latents.endswith((".npz", ".safetensors", ".pt")):
        return "file", {"path": latents}
    return latents, {}


def _bad_input(error: Exception) -> typer.Exit:
    console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
    return typer.Exit(code=_EXIT_BAD_INPUT)


@reproduce_app.command("mimo")
def reproduce_mimo(
    out: Path = _out("mimo"),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every pilot budget and SNR)."),
    seeds: str = _SEEDS,
    device: str = _DEVICE,
    latents: str = _LINK_LATENTS,
    snr_convention: str = _SNR_CONVENTION,
    channel_variance: float = _CHANNEL_VARIANCE,
    preset: str = typer.Option(None, "--preset", help="paper-mimo: the published study (CIFAR-10, ViT-S/16 -> ViT-B/16, its grid and noise level); fixes latents, grid and noise (--seeds, --device, --out, --snr-convention still apply). Extract the latents first (semalign latents extract)."),
    progress: bool = _PROGRESS,
) -> None:
    """Single-link study: accuracy vs compression factor, vs SNR and vs inference FLOPs for every method.

    Resumes: runs already stored in OUT/parts are skipped.
    """
    from semalign.experiments.engine import RunContext
    from semalign.experiments.studies.mimo import full_grid, quick_grid

    grid = full_grid() if full else quick_grid()
    latents, options = _link_latents(latents)
    try:
        if preset:
            from semalign.experiments.studies.presets import preset_grid

            grid = preset_grid(preset, "mimo")
            grid = replace(grid, snr_convention=snr_convention or grid.snr_convention)
        else:
            grid = replace(grid, latents=latents, latents_options=options, snr_convention=snr_convention or "total", channel_variance=channel_variance)
        grid = _with_seeds(grid, seeds)
        _check_device(device)
    except ValueError as error:
        raise _bad_input(error) from None
    _run_study("mimo", grid, out, preset=preset, progress=progress, context=RunContext(device=device))


@reproduce_app.command("game")
def reproduce_game(
    out: Path = _out("game"),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every point)."),
    seeds: str = _SEEDS,
    latents: str = typer.Option("digits", "--latents", help="Secondary pairs: digits (zoo encoders, default) or synthetic agents."),
    schedule: str = typer.Option("gauss-seidel", "--schedule", help="Update schedule of the games: jacobi, gauss-seidel or async."),
    snr_db: float = typer.Option(20.0, "--snr-db", help="SNR in dB (convention: --snr-convention)."),
    snr_convention: str = _SNR_CONVENTION,
    progress: bool = _PROGRESS,
) -> None:
    """Interference game with primary users: per-pair accuracy vs compression, cross-channel gain and
    the primary users' interference limit, and convergence vs the conditions C1/C2, for the
    fixed-eigenmode and full-MIMO games and the baselines (ignore-interference, centralized, orthogonal).

    Resumes: runs already stored in OUT/parts are skipped.
    """
    from semalign.experiments.studies.game import full_grid, quick_grid

    try:
        grid = (full_grid if full else quick_grid)(latents=latents, schedule=schedule, snr_db=snr_db, snr_convention=snr_convention or "total")
        grid = _with_seeds(grid, seeds)
    except ValueError as error:
        raise _bad_input(error) from None
    _run_study("game", grid, out, progress=progress)


@reproduce_app.command("federated")
def reproduce_federated(
    out: Path = _out("federated"),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every point)."),
    seeds: str = _SEEDS,
    latents: str = typer.Option("digits", "--latents", help="Users: digits (zoo encoders, default) or synthetic agents (then the heterogeneity study uses synthetic agents only)."),
    snr_convention: str = _SNR_CONVENTION,
    channel_variance: float = _CHANNEL_VARIANCE,
    baseline_processing: str = typer.Option("strictly-linear", "--baseline-processing", help="First-K/Top-K users' map: strictly-linear (the federated equalisers' class) or widely-linear."),
    processing: str = typer.Option("strictly-linear", "--processing", help="Federated protocol's maps: strictly-linear (published) or widely-linear (real maps, real composite channel)."),
    executor: str = typer.Option("local", "--executor", help="local (one process) or dask (AP and users as Dask actors on separate workers)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (default with --executor dask: a local cluster)."),
    preset: str = typer.Option(None, "--preset", help="paper-federated: the published study (CIFAR-10, ViT-Tiny AP, ten timm users, its grid and noise level); fixes users, grid and noise (--seeds, --processing, --executor still apply; --snr-convention published-federated gives the published code's noise level exactly). Extract the latents first (semalign latents extract)."),
    progress: bool = _PROGRESS,
) -> None:
    """Federated multi-user downlink: per-user accuracy vs compression factor, SNR, homogeneous vs
    heterogeneous user sets and the fraction of pilots, for the shared pre-equaliser (federated-admm,
    federated-prox), multi-link and the First-K / Top-K baselines.

    Resumes: runs already stored in OUT/parts are skipped.
    """
    from semalign._checks import check_choice
    from semalign._vocabulary import EXECUTORS
    from semalign.experiments.engine import RunContext
    from semalign.experiments.studies.federated import full_grid, quick_grid

    try:
        check_choice("executor", executor, EXECUTORS)
        if preset:
            from semalign.experiments.studies.presets import preset_grid

            grid = preset_grid(preset, "federated")
            grid = replace(grid, baseline_processing=baseline_processing, processing=processing, snr_convention=snr_convention or grid.snr_convention)
        else:
            options = dict(latents=latents, snr_convention=snr_convention or "total", channel_variance=channel_variance, baseline_processing=baseline_processing, processing=processing)
            if latents == "synthetic":
                options["heterogeneity_sources"] = ("synthetic",)
            grid = (full_grid if full else quick_grid)(**options)
        grid = _with_seeds(grid, seeds)
    except ValueError as error:
        raise _bad_input(error) from None
    context = RunContext(protocol_executor="dask" if scheduler else executor, protocol_scheduler=scheduler)
    _run_study("federated", grid, out, preset=preset, progress=progress, context=context)


@reproduce_app.command("robustness")
def reproduce_robustness(
    out: Path = _out("robustness"),
    full: bool = typer.Option(False, "--full", help="Run the complete grid (six seeds, every point, neural training to convergence)."),
    seeds: str = _SEEDS,
    device: str = _DEVICE,
    latents: str = _LINK_LATENTS,
    snr_convention: str = _SNR_CONVENTION,
    channel_variance: float = _CHANNEL_VARIANCE,
    settings: str = typer.Option(
        "single-link,federated,game", "--settings", help="Comma-separated settings to study: single-link, federated, game.",
    ),
    progress: bool = _PROGRESS,
) -> None:
    """Imperfect channel knowledge and 3GPP channel models. Single link: accuracy and MSE of every
    method, naive and robust, vs the CSI error, vs the pilot SNR of an estimated channel and vs the
    Doppler of an outdated channel; vs SNR on Rayleigh, TDL and CDL channels. Federated downlink
    and interference game: naive and robust designs vs the CSI error (the game with a protected
    primary receiver, its interference measured on the true channels).

    Resumes: runs already stored in OUT/parts are skipped.
    """
    from semalign.experiments.engine import RunContext
    from semalign.experiments.studies.robustness import full_grid, quick_grid

    latents, options = _link_latents(latents)
    try:
        chosen = tuple(part.strip() for part in settings.split(",") if part.strip())
        grid = (full_grid if full else quick_grid)(
            latents=latents, latents_options=options, snr_convention=snr_convention or "total", channel_variance=channel_variance, settings=chosen,
        )  # fmt: skip
        grid = _with_seeds(grid, seeds)
        _check_device(device)
    except ValueError as error:
        raise _bad_input(error) from None
    _run_study("robustness", grid, out, progress=progress, context=RunContext(device=device))


@app.command("run", context_settings={"allow_extra_args": False})
def run(
    experiment: str = typer.Argument(..., help="Experiment to run: link (single link), game (interference game) or federated (multi-user downlink)."),
    overrides: list[str] = typer.Argument(None, help="key=value settings; with -m, comma lists (snr_db=-10,0,10) or range(a,b) sweep a key."),
    multirun: bool = typer.Option(False, "-m", "--multirun", help="Sweep: every comma list is a dimension of the grid of runs."),
    config: Path = typer.Option(None, "--config", help="YAML file of key: value (a list is a sweep dimension); command-line overrides win."),
    out: Path = typer.Option(None, "--out", help="Output folder (default semalign-results/run/EXPERIMENT): results.parquet, parts/, manifest.json, figures/."),
    executor: str = typer.Option("local", "--executor", help="local (this process) or dask (a local Dask cluster, or --scheduler)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (implies --executor dask)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes of the local Dask cluster."),
    device: str = typer.Option("cpu", "--device", help="Torch device of the solvers: cpu or cuda."),
    batch: bool = typer.Option(True, "--batch/--no-batch", help="Fit runs that differ only in what their method batches (the SNR; the neural lam; the game's seed) as one call."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the runs and batches the sweep would execute, and stop."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (runs done, runs/s, time left)."),
) -> None:
    """Run one configuration or a sweep of an experiment, e.g.

    semalign run link method=linear-admm,first-k snr_db=-20,-10,0,10,20 seed=27,42,100 n_antennas=1,2,4,8 -m

    Results stream into OUT/parts as batches finish; rerunning resumes (finished runs are skipped).
    Unknown keys or bad values are reported with the valid keys before anything runs.
    """
    from semalign.experiments.engine import RunContext, execute_runs, group_runs
    from semalign.experiments.overrides import expand, parse_overrides, read_config_file
    from semalign.experiments.runs import get_run_kind

    if scheduler:
        executor = "dask"
    out = out or Path("semalign-results/run") / experiment
    try:
        kind = get_run_kind(experiment)
        sweep = read_config_file(config, kind.config_type) if config else {}
        if config and not multirun and any(len(v) > 1 for v in sweep.values()):
            raise ValueError(f"{config} lists several values for {', '.join(k for k, v in sweep.items() if len(v) > 1)}; add -m (multirun) to sweep")
        sweep.update(parse_overrides(list(overrides or []), kind.config_type, multirun=multirun))
        runs = expand(kind.config_type, sweep)
        _check_device(device)
        if dry_run:
            groups = group_runs(kind, runs, batch=batch)
            swept = {k: v for k, v in sweep.items() if len(v) > 1}
            console.print(escape(f"{experiment}: {len(runs)} runs in {len(groups)} batched calls; swept: " + (", ".join(f"{k}={','.join(map(str, v))}" for k, v in swept.items()) or "nothing")))
            return
        results = execute_runs(kind, runs, out, executor=executor, scheduler=scheduler, workers=workers, context=RunContext(device=device), batch=batch, progress=progress)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted:[/] finished runs are stored in {escape(str(out / 'parts'))}; rerun the same command to resume")
        raise typer.Exit(code=_EXIT_INTERRUPTED) from None
    except ValueError as error:
        raise _bad_input(error) from None
    except _unavailable() as error:
        raise _latents_error(error, _EXIT_UNAVAILABLE) from None
    from semalign.experiments.sweep_figures import draw_sweep_figures, sweep_summary

    from semalign.experiments.store import succeeded

    swept = [k for k, v in sweep.items() if len(v) > 1]
    usable = succeeded(results)
    drawn = draw_sweep_figures(usable, out / "figures", swept)
    title, table, more = sweep_summary(usable, swept)
    _print_table(title, table)
    if more:
        console.print(f"({more} more lines in results.parquet)")
    console.print(f"results: {escape(str(out / 'results.parquet'))} ({results.height} rows); figures: {len(drawn)} in {escape(str(out / 'figures'))}")


@app.command("figures")
def figures(out: Path = typer.Argument(..., help="An output folder of `semalign reproduce` or `semalign run`.")) -> None:
    """Redraw the figures of OUT from its stored results (no rerun): a study's figures, or a sweep's."""
    from semalign.experiments.figures import draw_figures

    try:
        drawn = draw_figures(out)
    except (FileNotFoundError, ValueError) as error:
        raise _bad_input(error) from None
    for path in drawn:
        console.print(f"wrote {escape(str(path))}")


@app.command("report")
def report(
    out: Path = typer.Argument(..., help="An output folder holding results.parquet (and manifest.json, figures/)."),
    redraw: bool = typer.Option(None, "--redraw/--no-redraw", help="Redraw the figures from results.parquet first (default: only if figures/ is missing or older than results.parquet)."),
    output: Path = typer.Option(None, "--output", help="The HTML file to write (default: OUT/report.html)."),
) -> None:
    """Write OUT/report.html: one self-contained page with the figures, conventions, summary tables,
    configuration and provenance of a study's results (nothing is rerun)."""
    from semalign.experiments.report import write_report

    try:
        written = write_report(out, redraw=redraw, output=output)
    except (FileNotFoundError, ValueError) as error:
        raise _bad_input(error) from None
    for warning in written.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    drawn = f"redrawn ({written.reason})" if written.redrawn else f"as found ({written.reason})"
    console.print(f"wrote {escape(str(written.path))}: {len(written.figures)} figures {escape(drawn)}", soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# semalign latents: extract pretrained encoders' latents into the cache, list the cache.
# Exit codes: 0 done, 2 bad input, 3 data/weights/extra unavailable, 130 interrupted.
# ---------------------------------------------------------------------------------------------
latents_app = typer.Typer(no_args_is_help=True, help="Pretrained encoders' latents: extract them into the cache, list the cache.")
app.add_typer(latents_app, name="latents")


def _latents_error(message: object, code: int) -> typer.Exit:
    """Print ``message`` as one red paragraph on stderr; return the Exit to raise (no traceback)."""
    # soft_wrap: no hard line breaks inside URLs and commands; the terminal wraps the paragraph.
    Console(stderr=True).print(f"[red]error:[/] {escape(' '.join(str(message).split()))}", soft_wrap=True)
    return typer.Exit(code=code)


@latents_app.command("extract")
def latents_extract(
    dataset: str = typer.Option("cifar10", "--dataset", help="torchvision data set class name, case-insensitive (cifar10, cifar100, svhn, stl10, ...)."),
    model: list[str] = typer.Option(None, "--model", metavar="NAME", help="timm model name; repeat or comma-separate for several (default: vit_small_patch16_224,vit_base_patch16_224, the papers' pair)."),
    root: Path = typer.Option(None, "--root", help="Folder holding the torchvision data set (downloaded there if missing; default: <cache>/datasets)."),
    cache: Path = typer.Option(None, "--cache", help="semalign cache folder (default: $SEMALIGN_CACHE or ~/.cache/semalign); latents go to <cache>/latents/<dataset>/<model>/<split>.safetensors."),
    device: str = typer.Option("cpu", "--device", help="Torch device that runs the encoder: cpu or cuda."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per forward pass."),
    splits: str = typer.Option(None, "--splits", show_default="train,val,test", help="Comma-separated splits: train (training split minus val), val (seeded hold-out of the training split), test."),
    val_fraction: float = typer.Option(0.15, "--val-fraction", help="Share of the training split held out as val (published: 0.15)."),
    split_seed: int = typer.Option(42, "--split-seed", help="Seed of the val hold-out (published: 42)."),
    pretrained: bool = typer.Option(True, "--pretrained/--no-pretrained", help="Load the model's pretrained weights, or use random weights (seeded, for tests)."),
    weights: Path = typer.Option(None, "--weights", help="Local checkpoint file to load instead of downloading (one --model only)."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision: auto (bf16 on CUDA, off on CPU), bf16, fp16 or off; stored latents are float32."),
    chunk_size: int = typer.Option(2048, "--chunk-size", help="Samples per resumable chunk: an interrupted run keeps finished chunks and the same command resumes."),
    num_workers: int = typer.Option(0, "--num-workers", help="DataLoader worker processes for image decoding and preprocessing."),
    offline: bool = typer.Option(False, "--offline", help="Never download: use only the local data set and cached weights (HF_HUB_OFFLINE=1 also implies it for weights)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-encode even if finished latents are cached."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar (images done, rate, time left)."),
) -> None:
    """Encode a data set with timm models and cache the latents (resumable; reused when cached).

    Afterwards load_latents("timm", dataset=..., tx=..., rx=...) reads them offline.

    Exit codes: 2 bad input, 3 data set or weights unavailable (the message says what to download and where to put it), 130 interrupted (rerun the same command to resume).
    """
    models = [m.strip() for item in (model or []) for m in item.split(",") if m.strip()]
    models = list(dict.fromkeys(models)) or ["vit_small_patch16_224", "vit_base_patch16_224"]
    if weights is not None and len(models) != 1:
        raise _latents_error(f"--weights FILE is one model's checkpoint; give exactly one --model with it (got {', '.join(models)})", _EXIT_BAD_INPUT)
    try:
        from semalign.latents.extract import LatentsUnavailable, extract_latents, read_cached_latents
    except ImportError as error:  # pragma: no cover - the package itself is broken
        raise _latents_error(error, _EXIT_UNAVAILABLE) from None
    table = Table(title=f"Cached latents ({dataset})")
    for column in ("model", "split", "n", "dim", "file"):
        table.add_column(column, justify="right" if column in ("n", "dim") else "left")
    try:
        for name in models:
            paths = extract_latents(
                dataset, name, splits=splits, root=root, cache_dir=cache, device=device, batch_size=batch_size,
                pretrained=pretrained, weights=weights, num_workers=num_workers, val_fraction=val_fraction,
                split_seed=split_seed, amp=amp, chunk_size=chunk_size, offline=offline, overwrite=overwrite,
                progress=progress,
            )  # fmt: skip
            for split, path in paths.items():
                _, meta = read_cached_latents(dataset, name, split, cache)
                table.add_row(name, split, meta.get("n", "?"), meta.get("dim", "?"), str(path))
    except ValueError as error:
        raise _latents_error(error, _EXIT_BAD_INPUT) from None
    except (LatentsUnavailable, ImportError) as error:
        raise _latents_error(error, _EXIT_UNAVAILABLE) from None
    except KeyboardInterrupt:
        raise _latents_error("interrupted; finished chunks are kept, rerun the same command to resume", _EXIT_INTERRUPTED) from None
    console.print(table)


@latents_app.command("list")
def latents_list(
    cache: Path = typer.Option(None, "--cache", help="semalign cache folder (default: $SEMALIGN_CACHE or ~/.cache/semalign)."),
) -> None:
    """List the cached latents: dataset, model, split, samples, dimension, status and size."""
    from semalign._cache import cache_root
    from semalign.latents.extract import list_cached_latents

    rows = list_cached_latents(cache)
    if not rows:
        console.print(f"no cached latents under {cache_root(cache) / 'latents'}; run `semalign latents extract` first")
        return
    table = Table(title=f"Cached latents in {cache_root(cache) / 'latents'}")
    for column in ("dataset", "model", "split", "n", "dim", "status", "MB"):
        table.add_column(column, justify="right" if column in ("n", "dim", "MB") else "left")
    for row in rows:
        n, dim = row["n"], row["dim"]
        table.add_row(
            row["dataset"], row["model"], row["split"], "" if n is None else str(n), "" if dim is None else str(dim),
            row["status"], f"{row['bytes'] / 1e6:.1f}",
        )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    app()
