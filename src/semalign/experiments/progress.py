"""Progress of the run engine: runs done, and time left weighted by what the runs are expected to cost.

Runs of one sweep may differ in cost by two orders of magnitude (a neural fit against a First-K
fit), so the time left is estimated from the *expected cost* done so far (each run kind says what
a run costs, relative to its others), not from the count of runs done. On a terminal a Rich bar is
drawn; when the output is a file or a pipe (a batch job's log), one line is printed per finished
batched call instead, so logs show progress.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


class _RunsColumn(ProgressColumn):
    """Runs done of runs planned, and finished runs per second."""

    def render(self, task) -> Text:
        done, total, started = task.fields["runs"], task.fields["total_runs"], task.fields["started"]
        rate = done / max(time.perf_counter() - started, 1e-9)
        return Text(f"{done}/{total} runs" + (f" {rate:.2f} runs/s" if done else ""))


class RunProgress:
    """Shows the progress of ``total_runs`` runs of total expected cost ``total_cost``.

    Args:
        label: what runs (a study's or run kind's name).
        total_runs: runs to execute.
        total_cost: their summed expected cost (any unit; only ratios matter).
        calls: batched calls planned.
        enabled: ``False`` shows nothing.
        console: where to draw (default: standard output).
    """

    def __init__(self, label: str, total_runs: int, total_cost: float, calls: int, *, enabled: bool = True, console: Console | None = None) -> None:
        self.label, self.total_runs, self.total_cost, self.calls = label, total_runs, max(total_cost, 1e-12), calls
        self.enabled = enabled
        self.console = console or Console()
        self.runs = self.cost = self.calls_done = 0
        self.started = time.perf_counter()
        self._bar: Progress | None = None
        self._first: tuple[float, float] | None = None  # (time, cost done) when the first call finished
        if enabled and self.console.is_terminal:
            columns = (TextColumn(f"[bold]{label}[/]"), BarColumn(), _RunsColumn(), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
            self._bar = Progress(*columns, console=self.console, transient=False)
            self._task = self._bar.add_task(label, total=self.total_cost, runs=0, total_runs=total_runs, started=self.started)

    def __enter__(self) -> RunProgress:
        if self._bar is not None:
            self._bar.start()
        elif self.enabled:
            self.console.print(f"{self.label}: {self.total_runs} runs in {self.calls} batched calls", highlight=False)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, runs: int, cost: float, *, elsewhere: bool = False) -> None:
        """``runs`` more runs of expected cost ``cost`` are stored (``elsewhere``: by another process
        sharing the output folder)."""
        self.runs += runs
        self.cost += cost
        self.calls_done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=cost, runs=self.runs)
        elif self.enabled:
            now = time.perf_counter()
            elapsed = now - self.started
            if self._first is None:  # the first call also pays the one-off setup (latents, classifiers)
                self._first = (now, self.cost)
            since, cost_since = now - self._first[0], self.cost - self._first[1]
            left = since * (self.total_cost - self.cost) / cost_since if cost_since > 0 else float("nan")
            where = " (stored by another process)" if elsewhere else ""
            self.console.print(
                f"{self.label}: {self.runs}/{self.total_runs} runs, call {self.calls_done}/{self.calls} done{where}; "
                f"{_duration(elapsed)} elapsed, about {_duration(left)} left",
                highlight=False, soft_wrap=True,
            )  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: nothing to extrapolate from yet
        return "?"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
