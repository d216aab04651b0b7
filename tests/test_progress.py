"""nft.local.progress (the quickstart's console filter): success/failure lines, metrics.json, the PNG."""

from __future__ import annotations

import io
import json
import os

import pytest

from nft.local import progress
from nft.plot import read_run, validation_curves

VAL0 = "step:0 - val-core/toy/acc/mean@4:np.float64(0.25) - val-aux/toy/score/mean@4:-0.5"
TRAIN = "step:{s} - critic/score/mean:0.1 - actor/pg_loss:0.0 - actor/grad_norm:0.5 - timing_s/step:2.0"
VALN = TRAIN + " - val-core/toy/acc/mean@4:np.float64(0.75)"


def run_progress(tmp_path, lines, monkeypatch, capsys, total=3):
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    rc = progress.main(["--log", str(tmp_path / "train.log"), "--json", str(tmp_path / "metrics.json"),
                        "--total", str(total), "--start", "0"])
    return rc, capsys.readouterr().out.splitlines()


def successful_run(total=3):
    return ([progress.STARTED, VAL0] + [TRAIN.format(s=s) for s in range(1, total)]
            + [VALN.format(s=total), progress.FINISHED])


def test_success_prints_accuracy_last_and_the_png_path(tmp_path, monkeypatch, capsys):
    rc, out = run_progress(tmp_path, successful_run(), monkeypatch, capsys)
    assert rc == 0
    assert out[-1].startswith("quickstart: accuracy 0.250 -> 0.750 in ")
    png = tmp_path / "val_curve.png"
    assert out[-2] == f"quickstart: validation curve: {png}"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "lines",
    [
        # crashed after the first training steps: only the validation before training was seen
        [progress.STARTED, VAL0, TRAIN.format(s=1), TRAIN.format(s=2), "Traceback (most recent call last):",
         "RuntimeError: boom"],
        # nft.main said the run failed after the last validation (e.g. the final checkpoint failed)
        successful_run()[:-1] + ["nft.main: training failed (RuntimeError: disk full)"],
        # nft.main started but its process died without saying it finished
        successful_run()[:-1],
        # the last validation is not the last step
        [progress.STARTED, VAL0, VALN.format(s=1), TRAIN.format(s=2), progress.FINISHED],
    ],
    ids=["crash-mid-run", "failed-after-last-val", "no-finish-line", "early-last-val"],
)
def test_failed_run_prints_no_accuracy_line(tmp_path, monkeypatch, capsys, lines):
    rc, out = run_progress(tmp_path, lines, monkeypatch, capsys)
    assert rc == 3
    assert not any(line.startswith("quickstart: accuracy") for line in out), out
    assert any(line.startswith("quickstart: FAILED") for line in out), out
    assert not (tmp_path / "val_curve.png").exists()


def test_metrics_json_is_readable_by_nft_plot(tmp_path, monkeypatch, capsys):
    run_progress(tmp_path, successful_run(), monkeypatch, capsys)
    for path in (tmp_path, tmp_path / "metrics.json"):  # the run folder and the file itself
        curves = validation_curves(read_run(str(path)))
        assert curves["toy"]["points"] == [(0, 25.0), (3, 75.0)]
    assert json.loads((tmp_path / "metrics.json").read_text())["val_after"] == 0.75
    os.remove(tmp_path / "val_curve.png")
