"""The quickstart's progress: runs the training command, keeps its output in a log file, and prints one line
per step from verl's file logger (``trainer.logger=[console,file]``, one JSON record per step written to
``$VERL_FILE_LOGGER_PATH``: verl/utils/tracking.py::FileLogger) as the records arrive::

    quickstart: step   N/TOTAL | train acc <a> | score <s> | loss <l> | grad_norm <g> | s/step <s> | gen s <s> | probs_diff <d>

(``| val acc <acc>`` on a step that validated), then the validation curve (PNG, training score per step and
the validation points) and::

    quickstart: setup <seconds> s, training <seconds> s
    quickstart: accuracy <first validation> -> <last validation> in <seconds> s

    python -m nft.local.progress --metrics RUN/metrics.jsonl --log RUN/train.log --total N [--setup-s S] -- CMD ...

The run succeeded when CMD exited 0 and the records hold a validation before training and one at step
``--total``; otherwise a ``FAILED`` line and the log's last error lines are printed instead of an accuracy
line, and the exit status is CMD's (3 when CMD exited 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time


def val_acc(metrics: dict) -> float | None:
    """The ``val-core/<source>/acc/mean@N`` value (``reward`` / ``score`` if no ``acc``)."""
    for stat in ("acc", "reward", "score"):
        for k, v in metrics.items():
            if k.startswith("val-core/") and f"/{stat}/mean@" in k:
                return v
    return None


COLUMNS = (  # metric, label, format
    ("critic/score/mean", "score", "+.3f"),
    ("actor/pg_loss", "loss", ".4f"),
    ("actor/grad_norm", "grad_norm", ".3f"),
    ("timing_s/step", "s/step", ".1f"),
    ("timing_s/gen", "gen s", ".1f"),
    # verl: mean |p_rollout - p_actor| on the sampled tokens; small only if the weights synced
    ("training/rollout_probs_diff_mean", "probs_diff", ".4f"),
)


def step_line(step: int, m: dict, total: int) -> str:
    parts = [f"step {step:>3}" + (f"/{total}" if total else "")]
    train_acc = next((v for k, v in m.items() if k.endswith("/acc/mean") and not k.startswith("val")), None)
    if train_acc is not None:
        parts.append(f"train acc {train_acc:.3f}")
    parts += [f"{name} {m[key]:{fmt}}" for key, name, fmt in COLUMNS if isinstance(m.get(key), (int, float))]
    acc = val_acc(m)
    if acc is not None:
        parts.append(f"val acc {acc:.3f}")
    return " | ".join(parts)


class Follower:
    """Reads the complete records appended to a file-logger JSONL since the last call."""

    def __init__(self, path: str):
        self.path, self.offset, self.records = path, 0, []

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        new = [json.loads(line) for line in complete.splitlines() if line.strip()]
        self.records += new
        return new


def failure_reason(records: list[dict], total: int, rc: int) -> str | None:
    """Why the run failed, or None. "Before training" is before the first training step of this run (a
    resumed run validates at the step it resumes from)."""
    val_steps = [r["step"] for r in records if val_acc(r["data"]) is not None]
    train_steps = [r["step"] for r in records if "actor/pg_loss" in r["data"]]
    if rc:
        return f"the training command exited with status {rc}"
    if not val_steps or (train_steps and min(val_steps) >= min(train_steps)):
        return "no validation before training"
    if max(val_steps) < total:
        return f"the last validation was at step {max(val_steps)} of {total}"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        sys.exit("usage: python -m nft.local.progress --metrics FILE --log FILE --total N [...] -- CMD ...")
    cut = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m nft.local.progress")
    p.add_argument("--metrics", required=True, help="verl's file-logger JSONL (VERL_FILE_LOGGER_PATH of CMD)")
    p.add_argument("--log", required=True, help="CMD's output goes here")
    p.add_argument("--total", type=int, required=True, help="training steps")
    p.add_argument("--start", type=float, default=None, help="start time of the whole run (epoch seconds)")
    p.add_argument("--setup-s", type=float, default=None, help="seconds spent before CMD (environment, model, data)")
    p.add_argument("--label", default="quickstart")
    p.add_argument("--echo", action="store_true", help="also echo CMD's output")
    p.add_argument("--plot", default=None, help="curve PNG (default: val_curve.png next to --metrics; 'none': no plot)")
    a = p.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    start = a.start if a.start is not None else time.time()
    if os.path.exists(a.metrics):
        os.remove(a.metrics)  # a fresh run (verl's FileLogger truncates it at its start too)
    follower, errors = Follower(a.metrics), []
    with open(a.log, "w") as log:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

        def copy_output():
            for line in child.stdout:
                log.write(line)
                log.flush()
                if a.echo:
                    sys.stdout.write(line)
                if "Error" in line or "Traceback" in line:
                    errors.append(line.rstrip())

        reader = threading.Thread(target=copy_output, daemon=True)
        reader.start()
        while True:
            done = child.poll() is not None
            for rec in follower.poll():
                print(f"{a.label}: {step_line(rec['step'], rec['data'], a.total)}", flush=True)
            if done:
                break
            time.sleep(0.5)
        reader.join(timeout=10)
    elapsed = time.time() - start
    why = failure_reason(follower.records, a.total, child.returncode)
    if why:
        print(f"{a.label}: FAILED after {elapsed:.0f} s ({why}); full log: {a.log}", flush=True)
        for e in errors[-10:]:
            print(f"  {e}", flush=True)
        return child.returncode or 3
    png = a.plot or os.path.join(os.path.dirname(os.path.abspath(a.metrics)), "val_curve.png")
    if png != "none":
        try:
            from nft.plot import plot_runs, read_run, training_curve, validation_curves

            series = read_run(a.metrics)
            curves = {**validation_curves(series, source=a.metrics), **training_curve(series)}
            plot_runs([(a.label, curves)], png,
                      title=f"{a.label}: training score and validation accuracy")
            print(f"{a.label}: curves: {png}", flush=True)
        except Exception as e:  # noqa: BLE001  (the plot is a convenience; the run itself succeeded)
            print(f"{a.label}: no curve PNG ({type(e).__name__}: {e})", flush=True)
    vals = [val_acc(r["data"]) for r in follower.records if val_acc(r["data"]) is not None]
    if a.setup_s is not None:
        print(f"{a.label}: setup {a.setup_s:.0f} s, training {elapsed - a.setup_s:.0f} s", flush=True)
    print(f"{a.label}: accuracy {vals[0]:.3f} -> {vals[-1]:.3f} in {elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
