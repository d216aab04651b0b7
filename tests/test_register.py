"""The "nft" estimator and loss through verl 0.9.1's real call sites."""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import numpy as np
import pytest
import torch
from reference_nft import response_loss
from tensordict import TensorDict
from verl import DataProto
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.utils import tensordict_utils as tu
from verl.workers.utils.losses import ppo_loss

import nft.register  # noqa: F401  (registers "nft")
from nft.objective import InvalidAdvantageEncoding


# ---------------------------------------------------------------- estimator through compute_advantage
def scores_to_token_rewards(scores, lengths, T):
    """verl puts a response's score on its last valid token."""
    rewards = torch.zeros(len(scores), T)
    for i, (s, n) in enumerate(zip(scores, lengths)):
        if n > 0:
            rewards[i, n - 1] = s
    return rewards


@pytest.mark.parametrize("neg_score", [-1.0, 0.0])
def test_estimator_through_compute_advantage(neg_score):
    T = 6
    # group a: mixed 2/4; b: all correct; c: all wrong; d: 2/4 of which one right answer was rejected by
    # rollout_rs (empty mask, reward kept: it still votes); e: verl's padding row (uid of its own, no reward)
    verdicts = [1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    uids = ["a"] * 4 + ["b"] * 3 + ["c"] * 3 + ["d"] * 4 + ["pad0123"]
    lengths = [6, 2, 4, 1, 3, 6, 5, 2, 2, 6, 4, 3, 5, 6, 1]
    scores = [1.0 if v else neg_score for v in verdicts]
    scores[-1] = 0.0  # trainer/ppo/padding_utils.py: rm_scores of a padding row are zeros
    rewards = scores_to_token_rewards(scores, lengths, T)
    mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).float()
    mask[13] = 0  # rejected by rollout_rs (rollout_corr_helper.py rewrites response_mask only)
    mask[14] = 0  # the padding row's response_mask is zeros
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": mask},
        non_tensors={"uid": np.array(uids, dtype=object)},
    )
    out = compute_advantage(data, adv_estimator="nft", config=None)
    adv, ret = out.batch["advantages"], out.batch["returns"]
    expected_r = [0.5] * 4 + [0.98] * 3 + [0.02] * 3 + [0.5] * 4 + [0.02]
    for i in range(len(verdicts)):
        n = int(mask[i].sum())
        expected = verdicts[i] - expected_r[i] if n else 0.0
        assert adv[i, :n].tolist() == pytest.approx([expected] * n, abs=1e-6)
        assert torch.all(adv[i, n:] == 0)
    torch.testing.assert_close(adv, ret)


def test_estimator_refuses_to_run_outside_nft_main(monkeypatch):
    """verl's own entry points skip NFT's checks (and the experimental/legacy trainers swap the loss in bypass
    mode): without nft.main's marker the estimator says so instead of training."""
    monkeypatch.delenv("NFT_ENTRY_POINT")
    fn = core_algos.get_adv_estimator_fn("nft")
    with pytest.raises(RuntimeError, match=r"only under `python -m nft\.main`.*NFT_ENTRY_POINT"):
        fn(token_level_rewards=torch.zeros(2, 3), response_mask=torch.ones(2, 3), index=np.array(["a", "a"]))
    monkeypatch.setenv("NFT_ENTRY_POINT", "nft.main")
    fn(token_level_rewards=torch.zeros(2, 3), response_mask=torch.ones(2, 3), index=np.array(["a", "a"]))


def test_estimator_needs_index():
    with pytest.raises(ValueError, match="index"):
        core_algos.get_adv_estimator_fn("nft")(token_level_rewards=torch.zeros(2, 3), response_mask=torch.ones(2, 3))


# ---------------------------------------------------------------- loss through ppo_loss
def make_rollout(seed=0, B=8, P=3, T=6):
    g = torch.Generator().manual_seed(seed)
    resp_len = torch.tensor([6, 3, 5, 1, 6, 2, 4, 6])[:B]
    prompt_len = torch.tensor([3, 2, 3, 1, 2, 3, 3, 1])[:B]
    response_mask = torch.arange(T)[None] < resp_len[:, None]
    verdicts = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1])[:B]
    uids = np.array(["a"] * 4 + ["b"] * 4, dtype=object)[:B]
    rewards = scores_to_token_rewards([1.0 if v else -1.0 for v in verdicts], resp_len.tolist(), T)
    adv, _ = core_algos.get_adv_estimator_fn("nft")(rewards, response_mask.float(), None, uids)
    old = -torch.rand(B, T, generator=g) * 2 * response_mask
    new = (old + (torch.rand(B, T, generator=g) * 2 - 1) * math.log(4.0)) * response_mask
    return dict(P=P, T=T, prompt_len=prompt_len, resp_len=resp_len, mask=response_mask, adv=adv,
                old=old, new=new, verdicts=verdicts, uids=uids)


def ppo_loss_on(actor_config, ro, rows, *, dp_size, batch_num_tokens, global_batch_size):
    """Run verl's ppo_loss on the given rows; returns (loss, metrics, grad of the full new-logp matrix)."""
    P, T = ro["P"], ro["T"]
    rows = list(rows)
    n = len(rows)
    attention = torch.zeros(n, P + T, dtype=torch.long)
    pieces = []
    new = ro["new"].clone().requires_grad_(True)
    for k, i in enumerate(rows):
        p, r = int(ro["prompt_len"][i]), int(ro["resp_len"][i])
        attention[k, P - p : P] = 1
        attention[k, P : P + r] = 1
        # ppo_loss takes position j's log-prob from the model output at j - 1 (verl/workers/utils/padding.py)
        pieces.append(torch.cat([torch.zeros(p - 1), new[i, :r], torch.zeros(1)]))
    data = TensorDict(
        {
            "prompts": torch.zeros(n, P, dtype=torch.long),
            "responses": torch.zeros(n, T, dtype=torch.long),
            "attention_mask": attention,
            "response_mask": ro["mask"][rows].long(),
            "old_log_probs": ro["old"][rows],
            "advantages": ro["adv"][rows],
        },
        batch_size=[n],
    )
    tu.assign_non_tensor(data, dp_size=dp_size, batch_num_tokens=batch_num_tokens, global_batch_size=global_batch_size)
    loss, metrics = ppo_loss(actor_config, {"log_probs": torch.cat(pieces)}, data)
    loss.backward()
    return loss, metrics, new.grad


def test_ppo_loss_token_mean_matches_reference(actor_config_factory):
    cfg = actor_config_factory()
    ro = make_rollout()
    n_tok = int(ro["mask"].sum())
    loss, metrics, grad = ppo_loss_on(cfg, ro, range(8), dp_size=1, batch_num_tokens=n_tok, global_batch_size=8)
    r_raw = {"a": 0.5, "b": 0.25}
    ref_total = torch.zeros((), dtype=torch.float64)
    ref_grad = torch.zeros(8, ro["T"], dtype=torch.float64)
    for i in range(8):
        n = int(ro["resp_len"][i])
        lp = ro["new"][i, :n].double().requires_grad_(True)
        ref = response_loss(lp, ro["old"][i, :n].double(), int(ro["verdicts"][i]), r_raw[ro["uids"][i]],
                            neg_weight=1.0, normalize=1)
        ref.backward()
        ref_total += ref.detach()
        ref_grad[i, :n] = lp.grad
    assert loss.item() == pytest.approx((ref_total / n_tok).item(), rel=1e-5)
    torch.testing.assert_close(grad.double(), ref_grad / n_tok, rtol=1e-5, atol=1e-7)
    for key in ("actor/nft/pos_token_frac", "actor/nft/neg_token_frac", "actor/nft/ratio_mean",
                "actor/nft/neg_clamped_frac", "actor/nft/r_mean", "actor/pg_loss", "actor/ppo_kl"):
        assert key in metrics, key
    pos_tokens = sum(int(ro["resp_len"][i]) for i in range(8) if ro["verdicts"][i])
    assert metrics["actor/nft/pos_token_frac"].values == [pytest.approx(pos_tokens / n_tok)]


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "authors"])
def test_gradient_invariant_to_micro_batches_and_dp_ranks(actor_config_factory, agg):
    if agg == "authors":
        cfg = actor_config_factory(["actor_rollout_ref.actor.policy_loss.aggregation=authors"])
    else:
        cfg = actor_config_factory([f"actor_rollout_ref.actor.loss_agg_mode={agg}"])
    ro = make_rollout(seed=5)
    n_tok = int(ro["mask"].sum())
    info = dict(batch_num_tokens=n_tok, global_batch_size=8)
    _, _, full = ppo_loss_on(cfg, ro, range(8), dp_size=1, **info)
    if agg == "authors":
        # one rank: token sum / 1000 over the mini-batch
        ref = torch.zeros_like(full)
        for i in range(8):
            n = int(ro["resp_len"][i])
            lp = ro["new"][i, :n].double().requires_grad_(True)
            response_loss(lp, ro["old"][i, :n].double(), int(ro["verdicts"][i]), [0.5, 0.25][i // 4],
                          neg_weight=1.0, normalize=1).backward()
            ref[i, :n] = lp.grad.float() / 1000.0
        torch.testing.assert_close(full, ref, rtol=1e-5, atol=1e-8)
    # micro-batches on one rank: gradients add up
    micro = sum(ppo_loss_on(cfg, ro, rows, dp_size=1, **info)[2] for rows in ([0, 1, 2], [3, 4], [5, 6, 7]))
    torch.testing.assert_close(micro, full, rtol=1e-5, atol=1e-8)
    # two simulated DP ranks: the engine averages their gradients. verl's modes give the global-batch
    # gradient; the authors' (rank sum / 1000, averaged) is 1/dp_size of the one-rank gradient by design.
    ranks = [ppo_loss_on(cfg, ro, rows, dp_size=2, **info)[2] for rows in ([0, 2, 4, 6], [1, 3, 5, 7])]
    expected = full / 2 if agg == "authors" else full
    torch.testing.assert_close((ranks[0] + ranks[1]) / 2, expected, rtol=1e-5, atol=1e-8)


def test_authors_aggregation_same_direction_different_scale(actor_config_factory):
    ro = make_rollout(seed=9)
    n_tok = int(ro["mask"].sum())
    info = dict(dp_size=1, batch_num_tokens=n_tok, global_batch_size=8)
    _, _, g_mean = ppo_loss_on(actor_config_factory(), ro, range(8), **info)
    _, _, g_auth = ppo_loss_on(
        actor_config_factory(["actor_rollout_ref.actor.policy_loss.aggregation=authors"]), ro, range(8), **info
    )
    cos = torch.nn.functional.cosine_similarity(g_mean.flatten(), g_auth.flatten(), dim=0)
    assert cos.item() == pytest.approx(1.0, abs=1e-6)
    assert (g_auth.norm() / g_mean.norm()).item() == pytest.approx(n_tok / 1000.0, rel=1e-5)


def test_rollout_is_weights_multiply_the_loss(actor_config_factory):
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    cfg = actor_config_factory()
    ro = make_rollout(seed=2)
    fn = get_policy_loss_fn("nft")
    kw = dict(old_log_prob=ro["old"], log_prob=ro["new"], advantages=ro["adv"], response_mask=ro["mask"],
              loss_agg_mode="token-sum", config=cfg)
    base, _ = fn(**kw)
    w = torch.full_like(ro["old"], 0.5)
    w[~ro["mask"]] = float("nan")  # garbage at padding must not leak
    weighted, _ = fn(**kw, rollout_is_weights=w)
    assert weighted.item() == pytest.approx(0.5 * base.item(), rel=1e-6)


def test_loss_rejects_foreign_advantages(actor_config_factory):
    cfg = actor_config_factory()
    ro = make_rollout()
    grpo = core_algos.compute_grpo_outcome_advantage(
        token_level_rewards=scores_to_token_rewards([1, -1, -1, 1, -1, -1, -1, 1], ro["resp_len"].tolist(), ro["T"]),
        response_mask=ro["mask"].float(), index=ro["uids"],
    )[0]
    with pytest.raises(InvalidAdvantageEncoding, match="adv_estimator"):
        core_algos.get_policy_loss_fn("nft")(
            old_log_prob=ro["old"], log_prob=ro["new"], advantages=grpo, response_mask=ro["mask"],
            loss_agg_mode="token-mean", config=cfg,
        )


# ---------------------------------------------------------------- registration
def test_registration_is_idempotent_under_another_module_name():
    est = core_algos.get_adv_estimator_fn("nft")
    loss = core_algos.get_policy_loss_fn("nft")
    path = pathlib.Path(nft.register.__file__)
    spec = importlib.util.spec_from_file_location("nft_register_copy", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["nft_register_copy"] = module
    try:
        spec.loader.exec_module(module)  # second import under another name: must not raise
        importlib.reload(nft.register)  # and a reload
    finally:
        sys.modules.pop("nft_register_copy", None)
    assert core_algos.get_adv_estimator_fn("nft") is est
    assert core_algos.get_policy_loss_fn("nft") is loss


def test_registration_refuses_to_shadow_a_foreign_nft():
    saved = core_algos.ADV_ESTIMATOR_REGISTRY.pop("nft")
    core_algos.ADV_ESTIMATOR_REGISTRY["nft"] = lambda **kw: None
    try:
        with pytest.raises(RuntimeError, match="different advantage estimator"):
            importlib.reload(nft.register)
    finally:
        core_algos.ADV_ESTIMATOR_REGISTRY["nft"] = saved
