"""nft.local.progress: runs the training command, prints a line per verl file-logger record, judges the run."""

from __future__ import annotations

import json
import sys

import pytest

from nft.local import progress
from nft.plot import read_run, read_steps, training_curve, validation_curves


def record(step, **data):
    # one record as verl/utils/tracking.py::FileLogger.log writes it
    return json.dumps({"step": step, "data": data})


VAL0 = record(0, **{"val-core/toy/acc/mean@4": 0.25, "val-aux/toy/score/mean@4": -0.5})
TRAIN = dict(**{"critic/score/mean": 0.1, "actor/pg_loss": 0.0, "actor/grad_norm": 0.5, "timing_s/step": 2.0})


def successful_records(total=3):
    return [VAL0] + [record(s, **TRAIN) for s in range(1, total)] + [
        record(total, **TRAIN, **{"val-core/toy/acc/mean@4": 0.75})]


def fake_trainer(records, rc=0, stderr=""):
    """A command that appends ``records`` to $METRICS (as verl's file logger would) and exits ``rc``."""
    body = (
        "import os, sys, time\n"
        f"recs = {records!r}\n"
        "with open(os.environ['METRICS'], 'a') as f:\n"
        "    for r in recs:\n"
        "        f.write(r + '\\n'); f.flush(); time.sleep(0.01)\n"
        f"print('trainer says hi'); sys.stderr.write({stderr!r}); sys.exit({rc})\n"
    )
    return [sys.executable, "-c", body]


def run_progress(tmp_path, monkeypatch, capsys, records, rc=0, stderr="", total=3):
    metrics = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("METRICS", str(metrics))
    code = progress.main(["--metrics", str(metrics), "--log", str(tmp_path / "train.log"), "--total", str(total),
                          "--start", "0", "--setup-s", "0", "--", *fake_trainer(records, rc, stderr)])
    return code, capsys.readouterr().out.splitlines()


def test_success_prints_steps_curves_and_accuracy_last(tmp_path, monkeypatch, capsys):
    rc, out = run_progress(tmp_path, monkeypatch, capsys, successful_records())
    assert rc == 0
    steps = [line for line in out if line.startswith("quickstart: step")]
    assert len(steps) == 4
    assert steps[0].startswith("quickstart: step   0/3") and steps[0].endswith("val acc 0.250")
    assert "score +0.100" in steps[1] and "grad_norm 0.500" in steps[1] and "s/step 2.0" in steps[1]
    assert out[-1].startswith("quickstart: accuracy 0.250 -> 0.750 in ")
    assert out[-2].startswith("quickstart: setup 0 s, training ")
    png = tmp_path / "val_curve.png"
    assert f"quickstart: curves: {png}" in out
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "train.log").read_text().startswith("trainer says hi")


@pytest.mark.parametrize(
    "records, rc, why",
    [
        # crashed after the first training steps: only the validation before training was logged
        (successful_records()[:2], 1, "exited with status 1"),
        # exited 0 but the last validation is not the last step
        (successful_records()[:3], 0, "last validation was at step 0 of 3"),
        # no validation before training
        (successful_records()[1:], 0, "no validation before training"),
        # every record there, but the command failed afterwards (e.g. the final checkpoint)
        (successful_records(), 2, "exited with status 2"),
    ],
    ids=["crash-mid-run", "early-last-val", "no-val-before", "failed-after-last-val"],
)
def test_failed_run_prints_no_accuracy_line(tmp_path, monkeypatch, capsys, records, rc, why):
    code, out = run_progress(tmp_path, monkeypatch, capsys, records, rc=rc,
                             stderr="Traceback (most recent call last):\nRuntimeError: boom\n")
    assert code == (rc or 3)
    assert not any(line.startswith("quickstart: accuracy") for line in out), out
    failed = [line for line in out if line.startswith("quickstart: FAILED")]
    assert len(failed) == 1 and why in failed[0], out
    assert "  RuntimeError: boom" in out
    assert not (tmp_path / "val_curve.png").exists()


def test_a_stale_metrics_file_is_not_read_as_this_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "metrics.jsonl").write_text("\n".join(successful_records()) + "\n")
    rc, out = run_progress(tmp_path, monkeypatch, capsys, [], rc=0)
    assert rc == 3 and any("no validation before training" in line for line in out)


def test_the_file_logger_records_are_what_nft_plot_reads(tmp_path, monkeypatch, capsys):
    run_progress(tmp_path, monkeypatch, capsys, successful_records())
    metrics = tmp_path / "metrics.jsonl"
    assert [s["step"] for s in read_steps(str(metrics))] == [0, 1, 2, 3]
    series = read_run(str(metrics))
    assert validation_curves(series)["toy"]["points"] == [(0, 25.0), (3, 75.0)]
    assert training_curve(series)["training score"]["points"] == [(1, 0.1), (2, 0.1), (3, 0.1)]


def test_usage_without_a_command():
    with pytest.raises(SystemExit, match="usage"):
        progress.main(["--metrics", "m.jsonl", "--log", "l", "--total", "1"])
