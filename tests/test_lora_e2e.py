"""LoRA end to end on the CPU loop: `bash recipes/quickstart_cpu.sh` with ``actor_rollout_ref.model.lora_rank > 0``
and the NFT loss: verl's FSDP actor trains a peft LoRA adapter, vLLM serves it (``--enable_lora``), the
run validates, checkpoints the adapter, and ends with the quickstart's validation-curve PNG and accuracy.
"""

from __future__ import annotations

import json
import uuid

import pytest
from test_quickstart_e2e import SCRIPT, SMALL, _assert_nothing_left, _env, _finite, _run, qs_dir  # noqa: F401

pytestmark = pytest.mark.e2e

LORA = ["actor_rollout_ref.model.lora_rank=8", "actor_rollout_ref.model.lora_alpha=16",
        "actor_rollout_ref.model.target_modules=all-linear", "actor_rollout_ref.actor.optim.lr=1e-2"]


def test_lora_nft_quickstart(qs_dir):  # noqa: F811
    tag = uuid.uuid4().hex
    try:
        proc = _run(["bash", str(SCRIPT), *SMALL, *LORA], env=_env(qs_dir, tag, STEPS=2, SEED=4, RUN_NAME="lora"),
                    cwd="/", timeout=420)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-5000:]
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("quickstart:")]
        assert lines[-1].startswith("quickstart: accuracy "), lines[-3:]
        run = qs_dir / "qs" / "lora"
        png = run / "val_curve.png"
        assert f"quickstart: validation curve: {png}" in lines and png.read_bytes()[:4] == b"\x89PNG"
        metrics = json.loads((run / "metrics.json").read_text())
        train = [s for s in metrics["steps"] if "actor/grad_norm" in s]
        assert [s["step"] for s in train] == [1, 2]
        for s in train:
            assert s["actor/grad_norm"] > 0 and _finite(s["actor/nft/r_mean"]) and s["actor/lr"] == 1e-2
            assert s["training/rollout_probs_diff_mean"] < 0.01  # vLLM sampled with the synced adapter
        log = (run / "train.log").read_text()
        assert "'--enable_lora'" in log and "nft.main: training finished" in log
        meta = json.loads((run / "checkpoints" / "global_step_2" / "actor" / "lora_train_meta.json").read_text())
        assert (meta["r"], meta["lora_alpha"]) == (8, 16)
    finally:
        _assert_nothing_left(tag)
