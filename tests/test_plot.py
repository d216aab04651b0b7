"""nft.plot: verl validation metrics (file logger JSONL, TensorBoard) -> curves -> PNG."""

import json

import pytest

from nft.plot import main, read_run, validation_curves


def _write_file_logger(path, steps, with_partial_tail=False):
    # the records verl/utils/tracking.py::FileLogger.log writes: {"step": step, "data": metrics}
    with open(path, "w") as f:
        for s in steps:
            data = {
                "actor/pg_loss": 0.1,
                "val-core/aime24/acc/mean@32": 0.1 + s / 1000,
                "val-core/aime24/acc/maj@32/mean": 0.5,
                "val-core/aime24/acc/best@32/mean": 0.6,
                "val-aux/aime24/score/mean@32": -0.8,
                "val-aux/aime24/acc/std@32": 0.2,
                "val-core/math_dapo/reward/mean@1": -0.5,  # data source without acc
                "val-core/math500/acc/mean@1": 0.5 + s / 1000,
            }
            f.write(json.dumps({"step": s, "data": data}) + "\n")
        f.write(json.dumps({"step": steps[-1] + 1, "data": {"actor/pg_loss": 0.2}}) + "\n")  # train-only step
        if with_partial_tail:
            f.write('{"step": 99, "da')


def test_curves_from_file_logger(tmp_path):
    p = tmp_path / "nft.jsonl"
    _write_file_logger(p, [0, 10, 20], with_partial_tail=True)
    curves = validation_curves(read_run(str(p)))
    assert set(curves) == {"aime24", "math500", "math_dapo"}
    assert curves["aime24"]["metric"] == "val-core/aime24/acc/mean@32"
    assert curves["aime24"]["points"] == [(0, pytest.approx(10.0)), (10, pytest.approx(11.0)), (20, pytest.approx(12.0))]
    assert curves["math_dapo"]["percent"] is False and curves["math_dapo"]["points"][0] == (0, -0.5)
    maj = validation_curves(read_run(str(p)), stat="maj")
    assert set(maj) == {"aime24"} and maj["aime24"]["metric"] == "val-core/aime24/acc/maj@32/mean"
    assert maj["aime24"]["points"][1] == (10, 50.0)


def test_last_value_of_a_step_wins(tmp_path):
    p = tmp_path / "r.jsonl"
    with open(p, "w") as f:
        for s, v in [(0, 0.1), (10, 0.2), (10, 0.3)]:  # step 10 logged again after a resume
            f.write(json.dumps({"step": s, "data": {"val-core/aime25/acc/mean@32": v}}) + "\n")
    assert validation_curves(read_run(str(p)))["aime25"]["points"] == [(0, 10.0), (10, 30.0)]


def test_curves_from_tensorboard(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    # what verl/utils/tracking.py::_TensorboardAdapter writes: add_scalar(key, value, step)
    w = SummaryWriter(str(tmp_path / "tb"))
    for s in (0, 5, 10):
        w.add_scalar("val-core/amc23/acc/mean@32", 0.4 + s / 100, s)
        w.add_scalar("val-core/amc23/acc/mean@16", 0.0, s)  # smaller N: not chosen
        w.add_scalar("val-core/olympiadbench/acc/mean@1", 0.3, s)
    w.close()
    curves = validation_curves(read_run(str(tmp_path / "tb")))
    assert curves["amc23"]["metric"] == "val-core/amc23/acc/mean@32"
    assert [s for s, _ in curves["amc23"]["points"]] == [0, 5, 10]
    assert curves["amc23"]["points"][2][1] == pytest.approx(50.0)
    assert curves["olympiadbench"]["points"][0][1] == pytest.approx(30.0)


def test_plot_png_several_runs(tmp_path, capsys):
    import matplotlib.image as mpimg

    a, b = tmp_path / "nft.jsonl", tmp_path / "grpo.jsonl"
    _write_file_logger(a, [0, 10, 20])
    _write_file_logger(b, [0, 10])
    out = tmp_path / "curves.png"
    assert main([str(a), str(b), "--label", "NFT", "--label", "GRPO", "--output", str(out)]) == 0
    img = mpimg.imread(str(out))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
    assert img[..., :3].std() > 0.05  # not a blank canvas
    text = capsys.readouterr().out
    assert "NFT" in text and "AIME24" in text and "last  12.00 @ step 20" in text
    assert "GRPO" in text and "last  51.00 @ step 10" in text


def test_plot_errors(tmp_path, capsys):
    p = tmp_path / "train_only.jsonl"
    p.write_text(json.dumps({"step": 1, "data": {"actor/pg_loss": 0.1, "val-aux/x/score/mean@1": 0}}) + "\n")
    assert main([str(p), "--output", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "train_only.jsonl: no 'val-core/<data_source>/acc|reward/mean@N' metrics" in err
    assert "val-aux/x/score/mean@1" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "data": {}}\n[1, 2]\n{"step": 2, "data": {}}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: expected verl file-logger records"):
        read_run(str(bad))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_run(str(tmp_path / "missing.jsonl"))
    assert main([str(p), str(p), "--label", "one", "--output", str(tmp_path / "y.png")]) == 2
    assert "1 --label for 2 runs" in capsys.readouterr().err


def test_reads_what_verl_itself_logs(tmp_path, monkeypatch):
    """Metrics named by verl's own validation code and written by verl's own file logger."""
    import numpy as np
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.utils.tracking import Tracking

    path = tmp_path / "verl.jsonl"
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))
    tracker = Tracking("proj", "exp", default_backend=["file"])
    expected = {}
    for step, acc in [(0, [1, 0, 0, 0, 0, 0, 0, 1, 1, 0]), (5, [1, 1, 0, 1, 1, 1, 0, 1, 1, 1])]:
        ds = np.array(["aime24"] * 8 + ["math500"] * 2)
        uids = ["a1"] * 4 + ["a2"] * 4 + ["m1", "m2"]
        infos = {"acc": [float(x) for x in acc], "score": [2.0 * x - 1 for x in acc], "pred": ["1"] * 10}
        # verl/trainer/ppo/ray_trainer.py::RayPPOTrainer._val_metrics_update only uses its arguments
        tracker.log(RayPPOTrainer._val_metrics_update(None, ds, uids, infos, []), step)
        expected[step] = (100 * np.mean(acc[:8]), 100 * np.mean(acc[8:]))
    tracker.logger["file"].finish()
    curves = validation_curves(read_run(str(path)))
    assert curves["aime24"]["metric"] == "val-core/aime24/acc/mean@4"
    assert curves["math500"]["metric"] == "val-core/math500/acc/mean@1"
    for i, step in enumerate((0, 5)):
        assert curves["aime24"]["points"][i] == (step, pytest.approx(expected[step][0]))
        assert curves["math500"]["points"][i] == (step, pytest.approx(expected[step][1]))


def test_reads_a_quickstart_run_folder(tmp_path, capsys):
    """The quickstart's run folder: verl's file-logger metrics.jsonl, train.log, checkpoints/."""
    run = tmp_path / "nft-seed1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "train.log").write_text("step:0 - val-core/toy/acc/mean@4:0.25\n")
    recs = [{"step": 0, "data": {"val-core/toy/acc/mean@4": 0.25}},
            {"step": 1, "data": {"critic/score/mean": -0.5}},
            {"step": 2, "data": {"critic/score/mean": 0.5, "val-core/toy/acc/mean@4": 0.75}}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    for path in (run, run / "metrics.jsonl"):
        assert validation_curves(read_run(str(path)))["toy"]["points"] == [(0, 25.0), (2, 75.0)]
    assert main([str(run / "metrics.jsonl"), "--train", "--output", str(tmp_path / "q.png")]) == 0
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.startswith("nft-seed1 ")  # the label is the run folder's name
    (run / "metrics.jsonl").write_text(json.dumps({"step": 0, "data": {"critic/score/mean": 0.1}}) + "\n")
    with pytest.raises(ValueError, match="val-core"):
        validation_curves(read_run(str(run)), source=str(run))


def test_reads_a_verl_file_logger_root(tmp_path):
    """$VERL_FILE_LOGGER_ROOT holds <project>/<experiment>.jsonl (verl/utils/tracking.py::FileLogger)."""
    (tmp_path / "proj").mkdir()
    _write_file_logger(tmp_path / "proj" / "exp.jsonl", [0, 10])
    assert validation_curves(read_run(str(tmp_path)))["math500"]["points"][-1][0] == 10
    _write_file_logger(tmp_path / "proj" / "exp2.jsonl", [0])
    with pytest.raises(ValueError, match="2 .jsonl files"):
        read_run(str(tmp_path))
