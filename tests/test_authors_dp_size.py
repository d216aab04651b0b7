"""``policy_loss.authors_dp_size``: with ``aggregation=authors`` the gradient equals the authors' at their
DP size whatever the real one, on simulated ranks through verl's real ``ppo_loss``.

The reference is built independently of nft.register: the authors' dp_actor computes on each of its D
ranks the sum over its micro-batches of (token sum of the loss) / 1000 (dp_actor.py:371-373, no rescaling
with dynamic batch size, dp_actor.py:395-400), and FSDP averages the D rank gradients.
"""

from __future__ import annotations

import pytest
import torch
from reference_nft import response_loss
from test_register import make_rollout, ppo_loss_on

import nft.register  # noqa: F401

PL = "actor_rollout_ref.actor.policy_loss."
R_RAW = {"a": 0.5, "b": 0.25}


def authors_gradient(ro, n_ranks: int, ratio_type: str = "token") -> torch.Tensor:
    """The authors' gradient w.r.t. the new log-probs with the 8 answers dealt over ``n_ranks`` ranks."""
    total = torch.zeros(8, ro["T"], dtype=torch.float64)
    for rank in range(n_ranks):
        rows = list(range(rank, 8, n_ranks))
        grad = torch.zeros_like(total)
        for i in rows:
            n = int(ro["resp_len"][i])
            lp = ro["new"][i, :n].double().requires_grad_(True)
            loss = response_loss(lp, ro["old"][i, :n].double(), int(ro["verdicts"][i]), R_RAW[ro["uids"][i]],
                                 neg_weight=1.0, normalize=1, ratio_type=ratio_type)
            # token: each answer's token sum / 1000; sequence: per-answer losses summed, undivided
            (loss / (1000.0 if ratio_type == "token" else 1.0)).backward()
            grad[i, :n] = lp.grad
        total += grad
    return (total / n_ranks).float()  # FSDP averages the rank gradients


def ours(cfg, ro, n_ranks: int) -> torch.Tensor:
    """Our gradient on ``n_ranks`` simulated verl DP ranks (the engine averages them)."""
    n_tok = int(ro["mask"].sum())
    grads = [
        ppo_loss_on(cfg, ro, range(rank, 8, n_ranks), dp_size=n_ranks, batch_num_tokens=n_tok, global_batch_size=8)[2]
        for rank in range(n_ranks)
    ]
    return sum(grads) / n_ranks


@pytest.mark.parametrize("ratio_type", ["token", "sequence"])
@pytest.mark.parametrize("real_dp", [1, 2, 4, 8])
def test_authors_dp_size_fixes_the_scale_whatever_the_real_dp(actor_config_factory, real_dp, ratio_type):
    ro = make_rollout(seed=11)
    cfg = actor_config_factory([PL + "aggregation=authors", PL + "authors_dp_size=4", PL + f"ratio_type={ratio_type}"])
    expected = authors_gradient(ro, 4, ratio_type)
    torch.testing.assert_close(ours(cfg, ro, real_dp), expected, rtol=1e-5, atol=1e-9)


def test_default_is_the_real_dp_size(actor_config_factory):
    ro = make_rollout(seed=12)
    cfg = actor_config_factory([PL + "aggregation=authors"])
    assert cfg.policy_loss.authors_dp_size == 0
    for real_dp in (1, 2, 4):
        torch.testing.assert_close(ours(cfg, ro, real_dp), authors_gradient(ro, real_dp), rtol=1e-5, atol=1e-9)
    # so at another DP size the default does not give the authors' 4-rank gradient: the knob matters
    g2, g4 = ours(cfg, ro, 2), authors_gradient(ro, 4)
    assert (g2.norm() / g4.norm()).item() == pytest.approx(2.0, rel=1e-5)


def test_authors_dp_size_is_unused_with_verl_aggregation(actor_config_factory):
    ro = make_rollout(seed=13)
    plain = ours(actor_config_factory(), ro, 2)
    with_knob = ours(actor_config_factory([PL + "authors_dp_size=32"]), ro, 2)
    torch.testing.assert_close(with_knob, plain)
