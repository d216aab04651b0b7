"""Truncated answers are negatives, end to end through verl 0.9.1's real CPU training loop.

``bash recipes/quickstart_cpu.sh`` (``python -m nft.main`` with ``recipes/config/nft_trainer.yaml``, whose
``reward.reward_manager`` is :class:`nft.reward.manager.NFTRewardManager`) with a tiny
``data.max_response_length=1`` and the toy task's reward wrapped by
:func:`nft.reward.truncation.negative_if_truncated`. With one token per answer, every answer that is
not the EOS token is cut at the limit: the toy task's own scorer would count a correct first digit as
+1, here every such answer must score -1, in validation (verl's dump of validation generations,
``trainer.validation_data_dir``, carries each sample's reward extra info) and in training
(``critic/score/mean`` of the step is exactly -1).

Only rollout-agnostic overrides are used. Every process the run starts carries a unique environment
tag; none may be alive afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from e2e import TAG_VAR, assert_nothing_left, run, shared_toy

pytestmark = pytest.mark.e2e  # verl's loop / vLLM / Ray: the slowest tests (CI runs them)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "quickstart_cpu.sh"

pytest.importorskip("verl")


def test_truncated_answers_are_negative_in_the_training_loop(tmp_path, tmp_path_factory):
    (tmp_path / "qs").mkdir()
    os.symlink(shared_toy(tmp_path_factory), tmp_path / "qs" / "toy")  # 64 training, 8 validation prompts
    val_dir = tmp_path / "val_generations"
    tag = uuid.uuid4().hex
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update({TAG_VAR: tag, "PYTHON": sys.executable, "QUICKSTART_DIR": str(tmp_path / "qs"), "RAY_NUM_CPUS": "16",
                "STEPS": "1", "SEED": "2", "RUN_NAME": "trunc"})
    overrides = [
        "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16",
        "actor_rollout_ref.rollout.val_kwargs.n=4",
        "data.max_response_length=1",
        # every group is all-wrong here: DAPO filtering would discard them all
        "algorithm.filter_groups.enable=false",
        "reward.custom_reward_function.path=pkg://nft.reward.truncation",
        "reward.custom_reward_function.name=toy_compute_score",
        "trainer.val_before_train=true", "trainer.test_freq=1", "trainer.save_freq=-1",
        f"trainer.validation_data_dir={val_dir}",
    ]
    try:
        proc = run(["bash", str(SCRIPT), *overrides], env=env, timeout=540)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    finally:
        assert_nothing_left(tag)

    rows = [json.loads(line) for f in sorted(val_dir.glob("*.jsonl")) for line in f.read_text().splitlines() if line]
    assert len(rows) >= 2 * 8 * 4, len(rows)  # before and after training, 8 prompts x 4 answers
    truncated = [r for r in rows if r["truncated"]]
    finished = [r for r in rows if not r["truncated"]]
    assert truncated, "no answer reached max_response_length=1 without EOS"
    assert all(r["score"] == -1.0 and r["acc"] == 0.0 for r in truncated)
    # the toy task's own rule (first digit == ground truth) would have scored these +1
    right_but_cut = [r for r in truncated if r["pred"] and r["pred"] == str(r["gts"]).strip()]
    assert right_but_cut, [(r["output"], r["gts"], r["pred"]) for r in truncated[:10]]
    for r in finished:  # a finished one-token answer is the EOS alone: no digit
        assert r["score"] == -1.0 and r["pred"] == ""
    metrics = json.loads((tmp_path / "qs" / "trunc" / "metrics.json").read_text())
    train = [s for s in metrics["steps"] if "actor/grad_norm" in s]
    assert len(train) == 1
    assert train[0]["critic/score/mean"] == -1.0, {k: v for k, v in train[0].items() if "score" in k}
    # the training step's truncation rate (nft/trainer.py, from each answer's reward_extra_info): with one
    # token per answer, every answer but a bare EOS is cut off; verl's length clip ratio also counts the
    # bare EOS (its length is the limit too), so it bounds the rate from above
    rate = train[0]["nft/reward/truncated_rate"]
    assert 0.0 < rate <= train[0]["response_length/clip_ratio"] + 1e-9, rate
    # in validation verl averages the `truncated` reward key per data source
    before = [r for r in rows if r["step"] == 0]
    val0 = next(s for s in metrics["steps"] if s.get("step") == 0)
    keys = [k for k in val0 if k.endswith("/truncated/mean@4")]
    assert keys, sorted(val0)
    assert val0[keys[0]] == pytest.approx(sum(r["truncated"] for r in before) / len(before))
