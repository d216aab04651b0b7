"""nft.objective against a plain transcription of the reference, and Prop. 4.2."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from reference_nft import response_loss

from nft.config import NFTPolicyLossConfig
from nft.objective import (
    InvalidAdvantageEncoding,
    clip_correct_rate,
    decode_advantages,
    encode_advantages,
    group_correct_rates,
    nft_loss_matrix,
    prompt_weight,
)

torch.set_default_dtype(torch.float32)


def knobs(**changed) -> dict:
    """nft_loss_matrix's knobs: NFTPolicyLossConfig's defaults, some changed."""
    return NFTPolicyLossConfig().loss_kwargs() | changed


def make_batch(seed: int, off_policy: bool, B: int = 8, T: int = 7):
    """Two groups of 4 responses with ragged lengths; ratios in [0.2, 5] when off-policy."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 5, 1, 6, 2, 7, 4])[:B]
    mask = torch.arange(T)[None, :] < lengths[:, None]
    old = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3.0
    if off_policy:
        log_ratio = (torch.rand(B, T, generator=g, dtype=torch.float64) * 2 - 1) * math.log(5.0)
    else:
        log_ratio = torch.zeros(B, T, dtype=torch.float64)
    new = old + log_ratio
    y = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1])[:B]
    index = ["a"] * 4 + ["b"] * 4
    return new * mask, old * mask, y, index, mask


CASES = list(itertools.product([1.0, 0.5, 0.0], [0, 1, 2], ["token", "sequence"], [False, True]))


@pytest.mark.parametrize("neg_weight,normalize,ratio_type,off_policy", CASES)
def test_loss_and_gradient_match_reference(neg_weight, normalize, ratio_type, off_policy):
    new, old, y, index, mask = make_batch(seed=3, off_policy=off_policy)
    r = group_correct_rates(y, index)
    assert r.tolist() == pytest.approx([0.5] * 4 + [0.25] * 4)

    lp = new.clone().float().requires_grad_(True)
    loss_mat, _ = nft_loss_matrix(
        lp, old.float(), y, clip_correct_rate(r), mask,
        **knobs(neg_weight=neg_weight, normalize=normalize, ratio_type=ratio_type),
    )
    loss_mat.sum().backward()

    for i in range(len(y)):
        n = int(mask[i].sum())
        lp_ref = new[i, :n].clone().requires_grad_(True)
        ref = response_loss(
            lp_ref, old[i, :n], int(y[i]), float(r[i]),
            neg_weight=neg_weight, normalize=normalize, ratio_type=ratio_type,
        )
        ref.backward()
        assert loss_mat[i].sum().item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
        torch.testing.assert_close(lp.grad[i, :n].double(), lp_ref.grad, rtol=1e-5, atol=1e-6)
        assert torch.all(lp.grad[i, n:] == 0)
        assert torch.all(loss_mat[i, n:] == 0)


@pytest.mark.parametrize("clamp_negative,clamp_positive", [(1.0, 0.0), (0.5, 0.8), (2.0, 1.0)])
def test_clamps_keep_gradient_and_match_reference(clamp_negative, clamp_positive):
    new, old, y, index, mask = make_batch(seed=11, off_policy=True)
    r = group_correct_rates(y, index)
    lp = new.clone().float().requires_grad_(True)
    loss_mat, stats = nft_loss_matrix(
        lp, old.float(), y, clip_correct_rate(r), mask,
        **knobs(clamp_negative=clamp_negative, clamp_positive=clamp_positive, normalize=1),
    )
    loss_mat.sum().backward()
    for i in range(len(y)):
        n = int(mask[i].sum())
        lp_ref = new[i, :n].clone().requires_grad_(True)
        ref = response_loss(lp_ref, old[i, :n], int(y[i]), float(r[i]), neg_weight=1.0, normalize=1,
                            clamp_negative=clamp_negative, clamp_positive=clamp_positive)
        ref.backward()
        assert loss_mat[i].sum().item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
        torch.testing.assert_close(lp.grad[i, :n].double(), lp_ref.grad, rtol=1e-5, atol=1e-6)
    # off-policy ratios in [0.2, 5] with eps >= 1 hold some negatives at eps: straight-through keeps gradient
    assert 0.0 < stats.neg_clamped_frac <= 1.0
    neg_rows = (y == 0).nonzero().flatten()
    assert torch.all(lp.grad[neg_rows][mask[neg_rows]] != 0)


def grad_on_policy(y, r_raw, mask, **kw):
    old = torch.zeros(mask.shape)
    lp = old.clone().requires_grad_(True)
    loss_mat, _ = nft_loss_matrix(lp, old, y, clip_correct_rate(r_raw), mask, **knobs(**kw))
    loss_mat.sum().backward()
    return lp.grad


def test_prop_4_2_normalize_2_is_grpo_population_std():
    y = torch.tensor([1, 0, 0, 1, 0, 1, 1, 1])
    index = [0] * 4 + [1] * 4
    mask = torch.ones(8, 5, dtype=torch.bool)
    r = group_correct_rates(y, index)
    grad = grad_on_policy(y, r, mask, normalize=2)
    # GRPO: loss = -A * logp per token, A = (y - mean) / population std
    yf = y.double()
    adv = torch.empty(8, dtype=torch.float64)
    for g in (0, 1):
        sel = torch.tensor(index) == g
        adv[sel] = (yf[sel] - yf[sel].mean()) / yf[sel].std(unbiased=False)
    torch.testing.assert_close(grad.double(), (-adv)[:, None].expand(8, 5), rtol=1e-5, atol=1e-6)


def test_prop_4_2_normalize_1_is_dr_grpo():
    y = torch.tensor([1, 0, 0, 0, 1, 1, 0, 1, 1, 1])
    index = [0] * 4 + [1] * 6
    mask = torch.ones(10, 3, dtype=torch.bool)
    r = group_correct_rates(y, index)
    grad = grad_on_policy(y, r, mask, normalize=1)
    torch.testing.assert_close(grad, -(y.float() - r.float())[:, None].expand(10, 3), rtol=1e-5, atol=1e-6)


def test_rft_gives_zero_gradient_to_negatives():
    y = torch.tensor([1, 0, 0, 1])
    mask = torch.ones(4, 6, dtype=torch.bool)
    old = -torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
    lp = (old + 0.3).requires_grad_(True)
    loss_mat, _ = nft_loss_matrix(lp, old, y, torch.full((4,), 0.5), mask, **knobs(neg_weight=0.0))
    loss_mat.sum().backward()
    assert torch.all(lp.grad[y == 0] == 0)
    assert torch.all(lp.grad[y == 1] != 0)


def test_prompt_weights():
    r = torch.tensor([0.02, 0.25, 0.5, 0.98])
    assert prompt_weight(r, 0).tolist() == [1, 1, 1, 1]
    torch.testing.assert_close(prompt_weight(r, 1), 1 - r)
    torch.testing.assert_close(prompt_weight(r, 2), torch.tensor([7.0, math.sqrt(3), 1.0, 1 / 7.0]))
    with pytest.raises(ValueError, match="normalize"):
        prompt_weight(r, 3)


def test_group_rates_ignore_invalid_rows_and_handle_uniform_groups():
    y = torch.tensor([1, 1, 1, 0, 0, 0, 1, 0])
    index = ["p", "p", "p", "q", "q", "q", "p", "q"]
    valid = torch.tensor([True, True, True, True, True, True, False, False])
    r = group_correct_rates(y, index, valid=valid)
    assert r.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert clip_correct_rate(r).tolist() == pytest.approx([0.98] * 3 + [0.02] * 3 + [0.98, 0.02])


def test_encode_decode_roundtrip_and_rejects_foreign_advantages():
    y = torch.tensor([1, 0, 1, 0])
    r = torch.tensor([0.98, 0.02, 0.5, 0.75])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    adv = encode_advantages(y, r, mask)
    y_dec, r_dec = decode_advantages(adv, mask)
    assert y_dec.tolist() == [1, 0, 1, 0]  # the last row has no valid token: placeholder y = 0
    torch.testing.assert_close(r_dec, torch.tensor([0.98, 0.02, 0.5, 0.5]))

    grpo_zero = adv.clone()
    grpo_zero[2] = 0.0 * mask[2]
    with pytest.raises(InvalidAdvantageEncoding, match="response 2"):
        decode_advantages(grpo_zero, mask)
    nan = adv.clone()
    nan[1, 0] = float("nan")
    with pytest.raises(InvalidAdvantageEncoding, match="response 1"):
        decode_advantages(nan, mask)
    garbage_at_padding = adv.clone()
    garbage_at_padding[~mask] = 7.0
    assert decode_advantages(garbage_at_padding, mask)[0].tolist() == [1, 0, 1, 0]
    whitened = adv.clone()
    whitened[0, 0] = 1.73
    with pytest.raises(InvalidAdvantageEncoding, match="adv_estimator"):
        decode_advantages(whitened, mask)
    uneven = adv.clone()
    uneven[2, 1] = -0.5
    with pytest.raises(InvalidAdvantageEncoding, match="different advantages"):
        decode_advantages(uneven, mask)


@pytest.mark.parametrize("ratio_type", ["token", "sequence"])
def test_never_nan_or_inf(ratio_type):
    B, T = 6, 5
    mask = torch.tensor([[1] * 5, [1] * 5, [1, 1, 0, 0, 0], [0] * 5, [1] * 5, [1] * 5], dtype=torch.bool)
    old = torch.zeros(B, T)
    # huge ratios (r R >> 1 on negatives), tiny ratios (R underflows to 0), garbage at padding
    delta = torch.tensor([[50.0] * 5, [-200.0] * 5, [9.0, 12.0, 0, 0, 0], [0] * 5, [-1e4] * 5, [30.0] * 5])
    lp = (old + delta)
    lp[2, 2:] = float("nan")
    lp[3] = float("inf")
    lp = lp.requires_grad_(True)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    r = torch.tensor([0.98, 0.98, 0.5, 0.5, 0.02, 0.02])
    for clamp_positive in (0.0, 0.5):
        lp.grad = None
        loss_mat, stats = nft_loss_matrix(lp, old, y, r, mask, **knobs(ratio_type=ratio_type, clamp_positive=clamp_positive))
        assert torch.isfinite(loss_mat).all()
        loss_mat.sum().backward()
        assert torch.isfinite(lp.grad).all()
        assert torch.all(loss_mat[~mask] == 0)
        assert math.isfinite(stats.ratio_mean)
    empty, stats = nft_loss_matrix(old.clone(), old, y, r, torch.zeros(B, T, dtype=torch.bool), **knobs())
    assert empty.abs().sum() == 0 and stats.pos_token_frac == 0.0


def test_stats_values():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    old = torch.zeros(2, 4)
    lp = torch.tensor([[0.0, math.log(2.0), 0.0, 0.0], [math.log(3.0), 0.0, 0.0, 0.0]])
    _, s = nft_loss_matrix(lp, old, torch.tensor([1, 0]), torch.tensor([0.25, 0.5]), mask, **knobs(clamp_negative=0.9))
    assert s.pos_token_frac == pytest.approx(0.6)
    assert s.neg_token_frac == pytest.approx(0.4)
    assert s.ratio_mean == pytest.approx((1 + 2 + 1 + 3 + 1) / 5)
    # negative row, r = 0.5: x = (1 - 0.5 R) / 0.5 = 2 - R: token 0 -> -1 (held), token 1 -> 1 (free)
    assert s.neg_clamped_frac == pytest.approx(0.5)
    assert s.r_mean == pytest.approx(0.375)
    assert s.log_ratio_mean == pytest.approx((math.log(2) + math.log(3)) / 5)
