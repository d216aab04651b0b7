"""Compact progress for a verl run: reads verl's console log on stdin, writes it in full to a file,
prints one line per step, and a final summary line.

verl's console logger (``verl/utils/logger/aggregate_logger.py::concat_dict_to_str``) prints one
line per step: ``step:N - key:value - key:value ...``. This filter prints, for each such line::

    quickstart: step   N/TOTAL | score <mean score> | loss <pg_loss> | grad_norm <g> | s/step <s> | gen s <s> | probs_diff <d>

(``| val acc <acc>`` appended on a step that validated), and at the end the setup/training split and
the validation accuracy logged at the first and at the last validation::

    quickstart: setup <seconds> s, training <seconds> s
    quickstart: accuracy <first> -> <last> in <seconds> s

Usage: ``verl ... 2>&1 | python -m nft.local.progress --log FILE --total N --start EPOCH_SECONDS``
(``--json FILE`` also writes every step's parsed metrics, readable by ``python -m nft.plot``; then the
validation curve is drawn next to it as ``val_curve.png``, or at ``--plot PATH``, and its path printed
just before the accuracy line).

A run succeeded when validation accuracy was seen before training and at the last step (``--total``),
and, for a log from ``python -m nft.main`` (which prints :data:`STARTED` first), when nft.main printed
:data:`FINISHED`. Otherwise only a ``FAILED`` line (and the last error lines) is printed, never an
accuracy line: exit status 3. Exit status 0 on success.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Ray prefixes worker output with "(ActorName pid=N) "; numpy scalars print as np.float64(0.25).
STEP_LINE = re.compile(r"^(?:\([^)]*\)\s*)?step:(\d+) - (.*)$")
NP_SCALAR = re.compile(r"^np\.\w+\((.*)\)$")
# Printed by nft.main (nft/main.py::run) in the driver: the run started / returned / raised.
STARTED = "nft.main: starting training"
FINISHED = "nft.main: training finished"
FAILED = "nft.main: training failed"


def parse_step_line(line: str) -> tuple[int, dict] | None:
    m = STEP_LINE.match(ANSI.sub("", line).strip())
    if not m:
        return None
    metrics = {}
    for part in m.group(2).split(" - "):
        key, sep, val = part.rpartition(":")
        if not sep:
            continue
        val = val.strip()
        npm = NP_SCALAR.match(val)
        if npm:
            val = npm.group(1)
        try:
            metrics[key.strip()] = float(val)
        except ValueError:
            continue
    return int(m.group(1)), metrics


def val_acc(metrics: dict, data_source: str | None = None) -> float | None:
    """The ``val-core/<source>/acc/mean@N`` value (first match; ``reward`` if no ``acc``)."""
    for stat in ("acc", "reward", "score"):
        for k, v in metrics.items():
            if k.startswith("val-core/") and f"/{stat}/mean@" in k and (data_source is None or data_source in k):
                return v
    return None


def _fmt(metrics: dict, key: str, fmt: str) -> str | None:
    v = metrics.get(key)
    return None if v is None else format(v, fmt)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nft.local.progress")
    p.add_argument("--log", required=True)
    p.add_argument("--json", default=None)
    p.add_argument("--total", type=int, default=0)
    p.add_argument("--start", type=float, default=None, help="start time (epoch seconds)")
    p.add_argument("--setup-s", type=float, default=None,
                   help="seconds the caller spent before training (environment, model, data); printed apart")
    p.add_argument("--label", default="quickstart")
    p.add_argument("--echo", action="store_true", help="also echo the full log")
    p.add_argument("--plot", default=None,
                   help="validation-curve PNG (default: val_curve.png next to --json; 'none' for no plot)")
    a = p.parse_args(argv)
    start = a.start if a.start is not None else time.time()
    first_val = last_val = None
    val_steps = []
    steps = []
    errors = []
    started = finished = False
    failed_line = None
    with open(a.log, "w") as log:
        for line in sys.stdin:
            log.write(line)
            log.flush()
            if a.echo:
                sys.stdout.write(line)
            if "Error" in line or "Traceback" in line:
                errors.append(line.rstrip())
            plain = ANSI.sub("", line).strip()
            if plain.startswith(STARTED):
                started = True
            elif plain.startswith(FINISHED):
                finished = True
            elif plain.startswith(FAILED):
                failed_line = plain
            parsed = parse_step_line(line)
            if parsed is None:
                continue
            step, m = parsed
            steps.append({"step": step, **m})
            acc = val_acc(m)
            if acc is not None:
                if first_val is None:
                    first_val = acc
                last_val = acc
                val_steps.append(step)
            parts = [f"step {step:>3}" + (f"/{a.total}" if a.total else "")]
            for key, name, fmt in (
                ("critic/score/mean", "score", "+.3f"),
                ("actor/pg_loss", "loss", ".4f"),
                ("actor/grad_norm", "grad_norm", ".3f"),
                ("timing_s/step", "s/step", ".1f"),
                ("timing_s/gen", "gen s", ".1f"),
                # verl: mean |p_rollout - p_actor| on the sampled tokens; small only if the weights synced
                ("training/rollout_probs_diff_mean", "probs_diff", ".4f"),
            ):
                s = _fmt(m, key, fmt)
                if s is not None:
                    parts.append(f"{name} {s}")
            train_acc = next((v for k, v in m.items() if k.endswith("/acc/mean") and not k.startswith("val")), None)
            if train_acc is not None:
                parts.insert(1, f"train acc {train_acc:.3f}")
            if acc is not None:
                parts.append(f"val acc {acc:.3f}")
            print(f"{a.label}: " + " | ".join(parts), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"steps": steps, "val_before": first_val, "val_after": last_val}, f, indent=1)
    elapsed = time.time() - start
    why = failure_reason(val_steps, len(steps), a.total, started, finished, failed_line)
    if why:
        print(f"{a.label}: FAILED after {elapsed:.0f} s ({why}); full log: {a.log}", flush=True)
        for e in errors[-10:]:
            print(f"  {e}", flush=True)
        return 3
    png = a.plot if a.plot else (os.path.join(os.path.dirname(os.path.abspath(a.json)), "val_curve.png") if a.json else None)
    if png and png != "none" and a.json:
        try:
            from nft.plot import plot_runs, read_run, validation_curves

            plot_runs([(a.label, validation_curves(read_run(a.json), source=a.json))], png,
                      title=f"{a.label}: validation accuracy")
            print(f"{a.label}: validation curve: {png}", flush=True)
        except Exception as e:  # noqa: BLE001  (the plot is a convenience; the run itself succeeded)
            print(f"{a.label}: no validation-curve PNG ({type(e).__name__}: {e})", flush=True)
    if a.setup_s is not None:
        print(f"{a.label}: setup {a.setup_s:.0f} s, training {elapsed - a.setup_s:.0f} s", flush=True)
    print(f"{a.label}: accuracy {first_val:.3f} -> {last_val:.3f} in {elapsed:.0f} s", flush=True)
    return 0


def failure_reason(val_steps: list[int], n_steps: int, total: int, started: bool, finished: bool,
                   failed_line: str | None) -> str | None:
    """Why the run counts as failed, or None when it succeeded."""
    if failed_line:
        return failed_line
    if started and not finished:
        return "nft.main did not report that training finished"
    if not val_steps or n_steps < 2:
        return "no validation before/after training"
    if len(set(val_steps)) < 2:
        return f"validation only at step {val_steps[0]}, not after training"
    if total and val_steps[-1] < total:
        return f"the last validation was at step {val_steps[-1]} of {total}"
    return None


if __name__ == "__main__":
    sys.exit(main())
