"""
The HTML report of a results folder
===================================

Every study (``semalign reproduce ...``) and every sweep (``semalign run ...``) writes one folder:
``results.parquet``, ``manifest.json``, ``parts/`` and ``figures/``. ``semalign report OUT`` -- or
:func:`semalign.experiments.report.write_report` from Python -- turns such a folder into one
self-contained HTML page: every figure with its caption, the conventions the rows record (SNR
convention, power, processing, versions, seeds, encoders), mean ± std tables, the manifest and the
columns. Images are embedded and there are no scripts or external resources, so the page can be
mailed or archived as one file.

This example runs a tiny sweep into a temporary folder, writes its report and shows one of the
report's figures.
"""

# %%
# A tiny sweep
# ------------
# Linear ADMM and Eigen-K, channel-aware and unaware, at N = 2 and 4 antennas and two SNRs (one
# seed, 20 pilots per class): 16 runs in 8 batched calls, plus the receiver's clean ceiling (a
# method that needs no link, so its link settings collapse to one run). The command line equivalent
# is ``semalign run link method=... awareness=aware,unaware n_antennas=2,4 snr_db=0,20 seed=27
# pilots_per_class=20 -m --out OUT`` followed by ``semalign report OUT``.
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt

from semalign.experiments.engine import execute_runs
from semalign.experiments.overrides import expand, parse_overrides
from semalign.experiments.report import write_report
from semalign.experiments.runs import get_run_kind

kind = get_run_kind("link")
tokens = [
    "method=linear-admm,eigen-k,clean",
    "awareness=aware,unaware",
    "n_antennas=2,4",
    "snr_db=0,20",
    "seed=27",
    "pilots_per_class=20",
]
runs = expand(kind.config_type, parse_overrides(tokens, kind.config_type, multirun=True))
workdir = tempfile.TemporaryDirectory(prefix="semalign-report-")
out = Path(workdir.name) / "sweep"
results = execute_runs(kind, runs, out, progress=False)
print(f"{results.height} distinct runs stored in {out}")

# %%
# Write the report
# ----------------
# The sweep has no figures yet, so ``write_report`` draws them from ``results.parquet`` first
# (nothing is rerun): one per numeric swept setting, accuracy and MSE against it. Then it writes
# ``report.html`` beside the results and says what it did.
report = write_report(out)
print(f"report: {report.path} ({report.path.stat().st_size / 1024:.0f} KiB), a {report.study}")
print(f"figures ({'redrawn' if report.redrawn else 'as found'}: {report.reason}):")
for figure in report.figures:
    print(f"  {figure.relative_to(out)}")
for warning in report.warnings:
    print("warning:", warning)
page = report.path.read_text(encoding="utf-8")
print(
    f"the page embeds {page.count('data:image/png;base64')} images and has {page.count('<table')} tables"
)

# %%
# One of the report's figures
# ---------------------------
# The figure against the SNR, as the page embeds it: accuracy and MSE, one line per method,
# awareness and antenna count, the clean ceiling dotted; its caption names the data and the
# conventions.
figure = next(path for path in report.figures if "snr_db" in path.name)
fig, ax = plt.subplots(figsize=(12, 6), layout="constrained")
ax.imshow(mpimg.imread(figure))
ax.set_axis_off()
ax.set_title(figure.name)
plt.show()

workdir.cleanup()
