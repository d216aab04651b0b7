"""Validation accuracy per benchmark against training step, for one or more runs, as a PNG.

``python -m nft.plot RUN [RUN ...] --output val.png [--label NAME ...]``

A RUN is one of
- a verl file-logger JSONL (``trainer.logger=[...,file]``; one ``{"step": int, "data": {metric: value}}``
  per line, written to ``$VERL_FILE_LOGGER_PATH`` or ``$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl``,
  see verl/utils/tracking.py::FileLogger),
- a TensorBoard log folder (``trainer.logger=[...,tensorboard]``; ``$TENSORBOARD_DIR`` or
  ``tensorboard_log/<project>/<experiment>``, see verl/utils/tracking.py::_TensorboardAdapter),
- a folder holding exactly one such JSONL, directly or below it (a quickstart run folder
  ``outputs/quickstart/<run>/`` with its ``metrics.jsonl``, or verl's ``$VERL_FILE_LOGGER_ROOT``, which
  holds ``<project>/<experiment>.jsonl``).

Curves: for each data source, verl's core validation metric
``val-core/<data_source>/<acc|reward>/mean@N`` (verl/trainer/ppo/ray_trainer.py::_val_metrics_update,
verl/trainer/ppo/metric_utils.py::process_validation_metrics); ``acc`` is preferred over ``reward``
and the largest N is taken. Data sources map to the paper's benchmark names (AIME24, MATH500, ...).
Accuracies are drawn in percent; ``reward`` curves are drawn as logged. An extra panel shows the
mean over the paper's benchmarks at steps where the run logged all of those it has.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import sys
from collections import defaultdict

from nft.eval.benchmarks import BENCHMARKS, canonical_benchmark, table_column

__all__ = ["main", "plot_runs", "read_run", "read_steps", "training_curve", "validation_curves"]

_CORE = {
    "mean": re.compile(r"^val-core/(?P<ds>.+)/(?P<var>acc|reward)/mean@(?P<n>\d+)$"),
    "maj": re.compile(r"^val-(?:core|aux)/(?P<ds>.+)/(?P<var>acc|reward)/maj@(?P<n>\d+)/mean$"),
    "best": re.compile(r"^val-(?:core|aux)/(?P<ds>.+)/(?P<var>acc|reward)/best@(?P<n>\d+)/mean$"),
}


def _read_jsonl(path: str) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines):  # a run still writing / killed mid-line
                print(f"[nft.plot] {path}:{lineno}: skipping a partial last line", file=sys.stderr)
                continue
            raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict) or "step" not in rec or not isinstance(rec.get("data"), dict):
            raise ValueError(f"{path}:{lineno}: expected verl file-logger records {{\"step\": int, \"data\": {{...}}}}")
        step = rec["step"]
        if not isinstance(step, (int, float)) or isinstance(step, bool):
            raise ValueError(f"{path}:{lineno}: 'step' must be a number, got {step!r}")
        for k, v in rec["data"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                series[k].append((int(step), float(v)))
    return series


def _read_tensorboard(folder: str) -> dict[str, list[tuple[int, float]]]:
    try:
        from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
    except ImportError:
        raise RuntimeError(f"reading TensorBoard logs in '{folder}' needs the 'tensorboard' package") from None
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    dirs = sorted({os.path.dirname(p) for p in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"), recursive=True)})
    for d in dirs:
        acc = EventAccumulator(d, size_guidance={SCALARS: 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            series[tag].extend((int(e.step), float(e.value)) for e in acc.Scalars(tag))
    return series


def read_run(path: str) -> dict[str, list[tuple[int, float]]]:
    """All scalar series of a run: ``{metric: [(step, value), ...]}`` sorted by step (the last value
    logged for a step wins, as after a resumed run)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"run '{path}' does not exist")
    if os.path.isdir(path):
        if glob.glob(os.path.join(path, "**", "events.out.tfevents.*"), recursive=True):
            raw = _read_tensorboard(path)
        else:
            jsonls = sorted(glob.glob(os.path.join(path, "*.jsonl")))
            if not jsonls:  # verl's file-logger root: <root>/<project>/<experiment>.jsonl
                jsonls = sorted(glob.glob(os.path.join(path, "**", "*.jsonl"), recursive=True))
            if len(jsonls) != 1:
                raise ValueError(
                    f"run folder '{path}' has no TensorBoard event files and {len(jsonls)} .jsonl "
                    f"files{': ' + ', '.join(jsonls[:5]) if jsonls else ''}; pass the verl file-logger JSONL itself"
                )
            raw = _read_jsonl(jsonls[0])
    else:
        raw = _read_jsonl(path)
    out = {}
    for k, pts in raw.items():
        by_step = {}
        for s, v in pts:
            by_step[s] = v
        out[k] = sorted(by_step.items())
    return out


_CORE_DESC = {
    "mean": "val-core/<data_source>/acc|reward/mean@N",
    "maj": "val-core|val-aux/<data_source>/acc|reward/maj@N/mean",
    "best": "val-core|val-aux/<data_source>/acc|reward/best@N/mean",
}


def validation_curves(
    series: dict[str, list[tuple[int, float]]], source: str = "", stat: str = "mean"
) -> dict[str, dict]:
    """``{benchmark: {"metric": name, "points": [(step, value)], "percent": bool}}`` from verl's
    validation metrics: ``stat`` = ``mean`` (``val-core/<ds>/<var>/mean@N``, avg@N), ``maj``
    (``maj@N/mean``) or ``best`` (``best@N/mean``, bootstrap pass@N); ``acc`` over ``reward``, largest N."""
    if stat not in _CORE:
        raise ValueError(f"stat must be one of {sorted(_CORE)}, got {stat!r}")
    best: dict[str, tuple] = {}
    for name in series:
        m = _CORE[stat].match(name)
        if not m:
            continue
        ds, var, n = m.group("ds"), m.group("var"), int(m.group("n"))
        rank = (var == "acc", n)
        if ds not in best or rank > best[ds][0]:
            best[ds] = (rank, name, var)
    if not best:
        val_keys = sorted(k for k in series if k.startswith("val"))
        raise ValueError(
            f"{source or 'run'}: no '{_CORE_DESC[stat]}' metrics "
            f"(validation keys found: {val_keys[:10] or 'none'})"
            + ("" if val_keys else "; was validation on (trainer.test_freq > 0, data.val_files)?")
        )
    out = {}
    for ds, (_, name, var) in best.items():
        bench = canonical_benchmark(ds)
        key = bench if bench not in out else ds
        pct = var == "acc"
        out[key] = {"metric": name, "percent": pct,
                    "points": [(s, 100.0 * v if pct else v) for s, v in series[name]]}
    return out


TRAINING_SCORE = "critic/score/mean"  # verl's mean sequence score of the step's training batch


def training_curve(series: dict[str, list[tuple[int, float]]]) -> dict[str, dict]:
    """``{"training score": {...}}`` (as :func:`validation_curves`) when the run logged ``critic/score/mean``."""
    pts = series.get(TRAINING_SCORE)
    return {"training score": {"metric": TRAINING_SCORE, "percent": False, "points": pts}} if pts else {}


def read_steps(path: str) -> list[dict]:
    """A verl file-logger JSONL as ``[{"step": N, metric: value, ...}, ...]`` in file order."""
    with open(path, encoding="utf-8") as f:
        return [{"step": rec["step"], **rec["data"]} for rec in map(json.loads, filter(str.strip, f))]


def _ordered(benches) -> list[str]:
    paper = [b for b in BENCHMARKS if b in benches]
    return paper + sorted(b for b in benches if b not in BENCHMARKS)


def plot_runs(runs: list[tuple[str, dict[str, dict]]], output: str, *, title: str | None = None, dpi: int = 120) -> str:
    """One panel per benchmark (+ "average" over the paper benchmarks), one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = _ordered({b for _, curves in runs for b in curves})
    panels = list(benches)
    if sum(1 for b in benches if b in BENCHMARKS) >= 2:
        panels.append("__avg__")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, b in zip(axes.flat, panels):
        for label, curves in runs:
            if b == "__avg__":
                paper = [x for x in curves if x in BENCHMARKS and curves[x]["percent"]]
                if not paper:
                    continue
                per = [dict(curves[x]["points"]) for x in paper]
                steps = sorted(set.intersection(*(set(p) for p in per)))
                pts = [(s, sum(p[s] for p in per) / len(per)) for s in steps]
            elif b in curves:
                pts = curves[b]["points"]
            else:
                continue
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if len(pts) < 30 else None, markersize=3, linewidth=1.5, label=label)
        is_pct = b == "__avg__" or any(c[b]["percent"] for _, c in runs if b in c)
        if b == "__avg__":
            k = max(sum(1 for x in c if x in BENCHMARKS and c[x]["percent"]) for _, c in runs)
            ax.set_title("Average" if k == len(BENCHMARKS) else f"Average of {k} benchmarks")
        else:
            ax.set_title(table_column(b))
        ax.set_xlabel("step")
        ax.set_ylabel("accuracy (%)" if is_pct else "reward")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    return output


def _default_label(path: str) -> str:
    norm = os.path.normpath(path)
    base = os.path.basename(norm)
    if base == "metrics.jsonl":  # the quickstart run folder's name (e.g. nft-seed1)
        return os.path.basename(os.path.dirname(os.path.abspath(norm)))
    return os.path.splitext(base)[0] if base.endswith(".jsonl") else base


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nft.plot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+",
                    help="verl file-logger JSONL, TensorBoard folder or quickstart run folder, one per run")
    ap.add_argument("--label", action="append", default=None, help="legend label per run (default: file/folder name)")
    ap.add_argument("--output", default="val_curves.png")
    ap.add_argument("--title", default=None)
    ap.add_argument("--dpi", type=int, default=120)
    ap.add_argument("--train", action="store_true", help="add a panel with the training score per step")
    ap.add_argument("--stat", choices=sorted(_CORE), default="mean",
                    help="mean = avg@N (default), maj = maj@N/mean, best = best@N/mean (verl's bootstrap)")
    a = ap.parse_args(argv)
    try:
        if a.label and len(a.label) != len(a.runs):
            raise ValueError(f"{len(a.label)} --label for {len(a.runs)} runs: give one per run or none")
        runs = []
        for i, path in enumerate(a.runs):
            label = a.label[i] if a.label else _default_label(path)
            series = read_run(path)
            curves = validation_curves(series, source=path, stat=a.stat)
            runs.append((label, {**curves, **(training_curve(series) if a.train else {})}))
            for b in _ordered(curves):
                pts = curves[b]["points"]
                last_s, last_v = pts[-1]
                best_s, best_v = max(pts, key=lambda p: (p[1], -p[0]))
                print(f"{label:<24} {table_column(b):<12} {curves[b]['metric']:<48} "
                      f"last {last_v:6.2f} @ step {last_s:<5} best {best_v:6.2f} @ step {best_s}")
        plot_runs(runs, a.output, title=a.title, dpi=a.dpi)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"nft.plot: error: {e}", file=sys.stderr)
        return 2
    print(f"[nft.plot] wrote {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
