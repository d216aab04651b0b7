"""The NFT objective (arXiv 2505.18116, Eq. 10) in plain torch; no verl import.

Notation, per prompt q with K answers sampled from the old policy:

* ``y_i ∈ {0, 1}``: the verifier's verdict on answer i.
* ``r̂ = clip(mean_i y_i, R_MIN, R_MAX)`` with ``R_MIN, R_MAX = 0.02, 0.98``: the group correct rate.
* ``Δ_t = logπ_θ(a_t) − logπ_old(a_t)`` and the ratio ``R_t = exp(min(Δ_t, M))``, ``M = max_log_ratio``;
  ``ratio_type="sequence"`` uses one ``R = exp(min(Σ_t Δ_t, M))`` per answer instead.
* ``max_sg(x, c) = x + stopgrad(max(x, c) − x)``: the value is clamped from below, the gradient is x's.

Per-token loss (``ratio_type="token"``)::

    y = 1:  ℓ_t = −ω(r̂) · log max_sg(R_t, c₊)
    y = 0:  ℓ_t = −ω(r̂) · λ · log max_sg((1 − r̂·R_t) / (1 − r̂), ε)

with ``λ = neg_weight`` (1: NFT, 0: RFT), ``ε = clamp_negative``, ``c₊ = clamp_positive`` and the
prompt weight (the defaults of every knob: :class:`nft.config.NFTPolicyLossConfig`)::

    normalize = 0:  ω = 1
    normalize = 1:  ω = 1 − r̂                 (on-policy gradient = Dr.GRPO's)
    normalize = 2:  ω = sqrt((1 − r̂) / r̂)     (on-policy gradient = GRPO's, population std)

``ratio_type="sequence"`` computes the same two terms once per answer with the sequence ratio and
spreads each answer's loss evenly over its valid tokens, so that any token-summing aggregation counts
every answer exactly once.

The advantage encoding carries (y, r̂) from verl's advantage estimator to its policy loss, whose
only per-sample input is the advantages tensor: ``A = y − r̂`` on valid tokens (exactly the Dr.GRPO
advantage). Since ``r̂ ∈ [0.02, 0.98]``, ``A`` is never 0 on a valid token and decodes uniquely:
``y = [A > 0]``, ``r̂ = 1 − A`` if y = 1 else ``−A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

import torch

R_MIN = 0.02
R_MAX = 0.98
# Slack when decoding float32 advantages: 1 − 0.98 is 0.0199999... in float32.
_DECODE_ATOL = 1e-4

NORMALIZE_MODES = (0, 1, 2)
RATIO_TYPES = ("token", "sequence")


class InvalidAdvantageEncoding(ValueError):
    """The advantages reaching the NFT loss were not written by the NFT estimator."""


def group_correct_rates(
    correct: torch.Tensor, index: Sequence[Hashable], valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Unclipped group correct rate ``r_i = mean_{j: index_j = index_i, valid_j} y_j`` for every row i.

    Args:
        correct: (B,) bool or {0,1} verdicts y.
        index: B hashable group ids (verl's prompt ``uid``).
        valid: optional (B,) bool; rows that are False (e.g. padding rows with an empty response mask)
            do not vote. A group with no valid row gets r = 0.
    """
    if correct.dim() != 1:
        raise ValueError(f"correct must be 1-D (one verdict per response), got shape {tuple(correct.shape)}")
    if len(index) != correct.shape[0]:
        raise ValueError(f"index has {len(index)} entries but there are {correct.shape[0]} responses")
    group_of: dict[Hashable, int] = {}
    group_ids = torch.tensor([group_of.setdefault(g, len(group_of)) for g in index], dtype=torch.long)
    y = correct.to(torch.float64)
    w = torch.ones_like(y) if valid is None else valid.to(torch.float64)
    hits = torch.zeros(len(group_of), dtype=torch.float64).index_add_(0, group_ids, y * w)
    counts = torch.zeros(len(group_of), dtype=torch.float64).index_add_(0, group_ids, w)
    rates = hits / counts.clamp(min=1.0)
    return rates[group_ids]


def clip_correct_rate(r: torch.Tensor) -> torch.Tensor:
    """``r̂ = clip(r, 0.02, 0.98)``."""
    return r.clamp(R_MIN, R_MAX)


def prompt_weight(r_hat: torch.Tensor, normalize: int) -> torch.Tensor:
    """ω(r̂): 1, 1 − r̂ or sqrt((1 − r̂)/r̂) for normalize = 0, 1, 2."""
    if normalize == 0:
        return torch.ones_like(r_hat)
    if normalize == 1:
        return 1.0 - r_hat
    if normalize == 2:
        return torch.sqrt((1.0 - r_hat) / r_hat)
    raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {normalize!r}")


def encode_advantages(correct: torch.Tensor, r_hat: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Advantages ``A = (y − r̂) · mask`` of shape (B, T), float32."""
    a = correct.to(torch.float32) - r_hat.to(torch.float32)
    return a.unsqueeze(-1) * response_mask.to(torch.float32)


def decode_advantages(advantages: torch.Tensor, response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert :func:`encode_advantages`: per-response ``(y, r̂)``, each of shape (B,), float32.

    Rows without a valid token get the finite placeholders y = 0, r̂ = 0.5. Raises
    :class:`InvalidAdvantageEncoding` when a valid token holds a value that no (y, r̂ ∈ [0.02, 0.98]) pair
    produces, e.g. 0 (GRPO's advantage of a uniform group), a whitened advantage outside [−0.98, 0.98],
    a non-finite value, or when a response's valid tokens disagree.
    """
    mask = response_mask.to(torch.bool)
    a = advantages.detach().to(torch.float32)
    has_tokens = mask.any(dim=-1)
    first = mask.to(torch.uint8).argmax(dim=-1, keepdim=True)
    a_row = a.gather(-1, first).squeeze(-1)
    spread = torch.where(mask, (a - a_row.unsqueeze(-1)).abs(), torch.zeros_like(a)).amax(dim=-1)
    mag = a_row.abs()
    in_range = (mag >= R_MIN - _DECODE_ATOL) & (mag <= R_MAX + _DECODE_ATOL) & (spread <= _DECODE_ATOL)
    if bool((has_tokens & ~in_range).any()):  # the only host sync on the happy path
        _raise_invalid_encoding(a, mask)
    y = (a_row > 0) & has_tokens
    r_hat = torch.where(y, 1.0 - a_row, -a_row).clamp(R_MIN, R_MAX)
    r_hat = torch.where(has_tokens, r_hat, torch.full_like(r_hat, 0.5))
    return y.to(torch.float32), r_hat


def _raise_invalid_encoding(a: torch.Tensor, mask: torch.Tensor) -> None:
    mag = a.abs()
    bad = mask & ~((mag >= R_MIN - _DECODE_ATOL) & (mag <= R_MAX + _DECODE_ATOL))
    if bool(bad.any()):
        row, col = (int(v) for v in bad.nonzero()[0])
        raise InvalidAdvantageEncoding(
            f"advantages are not an NFT encoding: response {row}, token {col} holds {a[row, col].item():.6g}, "
            f"but NFT advantages are y - r with r in [{R_MIN}, {R_MAX}] (|A| in [{R_MIN}, {R_MAX}]). "
            "The 'nft' policy loss needs algorithm.adv_estimator=nft, binary rewards, "
            "algorithm.use_kl_in_reward=False and no advantage rescaling."
        )
    hi = torch.where(mask, a, torch.full_like(a, -math.inf)).amax(dim=-1)
    lo = torch.where(mask, a, torch.full_like(a, math.inf)).amin(dim=-1)
    row = int(((hi - lo) > _DECODE_ATOL).nonzero()[0])
    raise InvalidAdvantageEncoding(
        f"advantages are not an NFT encoding: response {row} has different advantages on its tokens "
        f"(min {lo[row].item():.6g}, max {hi[row].item():.6g}); NFT writes one value y - r per response. "
        "Use algorithm.adv_estimator=nft with the 'nft' policy loss."
    )


@dataclass(frozen=True)
class NFTLossStats:
    """Detached statistics of one loss evaluation (means over valid tokens unless stated)."""

    pos_token_frac: float
    neg_token_frac: float
    ratio_mean: float
    neg_clamped_frac: float  # share of negative tokens whose (1 − r̂R)/(1 − r̂) is held at ε
    pos_clamped_frac: float  # share of positive tokens whose R is held at c₊
    r_mean: float  # mean r̂ over responses with at least one valid token
    log_ratio_mean: float  # mean Δ (−ppo_kl)
    # Off-policyness: spread of the per-token Δ = logπθ − logπold over valid tokens. With
    # bypass mode πold is the rollout policy, so these show how far the trained policy is from the sampler.
    log_ratio_std: float = 0.0  # population std of Δ
    log_ratio_abs_max: float = 0.0  # max |Δ|

    def as_metrics(self, prefix: str = "actor/nft/") -> dict[str, float]:
        return {prefix + k: float(v) for k, v in self.__dict__.items()}


def nft_loss_matrix(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    correct: torch.Tensor,
    r_hat: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    neg_weight: float,
    normalize: int,
    clamp_negative: float,
    clamp_positive: float,
    ratio_type: str,
    max_log_ratio: float,
) -> tuple[torch.Tensor, NFTLossStats]:
    """Per-token NFT loss matrix (B, T), float32, zero at masked positions.

    Args:
        log_prob, old_log_prob: (B, T) log-probabilities of the sampled tokens (current / old policy).
        correct: (B,) verdict y ∈ {0, 1} per response.
        r_hat: (B,) clipped group correct rate r̂ ∈ [0.02, 0.98] per response.
        response_mask: (B, T) valid-token mask.
        neg_weight, normalize, clamp_negative, clamp_positive, ratio_type, max_log_ratio: the knobs of
            :class:`nft.config.NFTPolicyLossConfig` (its ``loss_kwargs()``, where their defaults live).

    Returns the loss matrix ℓ (sum it over valid tokens for the objective, or pass it to verl's
    ``agg_loss``) and detached statistics. Every entry and every gradient is finite for any inputs that
    are finite on valid tokens: the ratio is capped at e^M, a negative's (1 − r̂R)/(1 − r̂) is bounded
    by [1 − r̂e^M, 1/(1 − r̂)] / held at ε, and masked positions never enter the arithmetic.
    """
    if ratio_type not in RATIO_TYPES:
        raise ValueError(f"ratio_type must be one of {RATIO_TYPES}, got {ratio_type!r}")
    if clamp_negative <= 0:
        raise ValueError(f"clamp_negative must be > 0, got {clamp_negative!r}")
    if clamp_positive < 0:
        raise ValueError(f"clamp_positive must be >= 0, got {clamp_positive!r}")
    if correct.dim() != 1 or r_hat.dim() != 1:
        raise ValueError("correct and r_hat must be 1-D: one value per response")
    mask = response_mask.to(torch.bool)
    maskf = mask.to(torch.float32)
    y = correct.to(torch.float32).unsqueeze(-1)  # (B, 1)
    r = r_hat.to(torch.float32).unsqueeze(-1)
    # Masked positions may hold anything (verl pads with 0; NaN must not leak: 0 * NaN is NaN).
    delta = torch.where(mask, log_prob.to(torch.float32) - old_log_prob.to(torch.float32), 0.0)
    if ratio_type == "token":
        log_ratio = delta.clamp(max=max_log_ratio)
    else:
        log_ratio = delta.sum(dim=-1, keepdim=True).clamp(max=max_log_ratio)  # (B, 1)
    ratio = torch.exp(log_ratio)

    # Positive term: −log max_sg(R, c₊). Value −max(log R, log c₊); gradient −(R / max(R, c₊)) dlogR,
    # in log space so that R underflowing to 0 never gives log(0).
    if clamp_positive > 0:
        log_floor = math.log(clamp_positive)
        held_log = log_ratio.clamp(min=log_floor)
        scale = torch.exp(log_ratio - held_log).detach()
        pos_loss = -(scale * log_ratio + (held_log - scale * log_ratio).detach())
        pos_held = log_ratio < log_floor
    else:
        pos_loss = -log_ratio
        pos_held = None

    # Negative term: −λ log max_sg(x, ε), x = (1 − r̂R)/(1 − r̂) = a + b·R with a = 1/(1 − r̂), b = −r̂/(1 − r̂).
    a = 1.0 / (1.0 - r)
    x = torch.addcmul(a, -r * a, ratio)
    x_held = x.clamp(min=clamp_negative)
    neg_loss = -torch.log(x + (x_held - x).detach())

    omega = prompt_weight(r, normalize)
    loss = torch.where(y > 0, omega * pos_loss, (omega * neg_weight) * neg_loss)
    if ratio_type == "sequence":
        # one loss per answer, spread over its tokens: any token sum counts the answer once
        loss = loss / maskf.sum(dim=-1, keepdim=True).clamp(min=1.0)
    loss = loss * maskf if ratio_type == "token" else loss.expand_as(maskf) * maskf

    with torch.no_grad():
        stats = _loss_stats(mask, maskf, y, r, ratio, delta, x < clamp_negative, pos_held)
    return loss, stats


def _loss_stats(mask, maskf, y, r, ratio, delta, neg_held, pos_held) -> NFTLossStats:
    """All statistics in one host transfer."""
    tokens_per_row = maskf.sum(dim=-1, keepdim=True)  # (B, 1)
    rows = (tokens_per_row > 0).to(torch.float32)
    n_tok = tokens_per_row.sum().clamp(min=1.0)
    pos_tok = (y * tokens_per_row).sum()
    neg_tok = ((1.0 - y) * tokens_per_row).sum()
    ratio_sum = (ratio * maskf).sum() if ratio.shape == maskf.shape else (ratio * tokens_per_row).sum()
    neg_held_sum = (neg_held * (1.0 - y) * maskf).sum()
    pos_held_sum = (pos_held * y * maskf).sum() if pos_held is not None else torch.zeros(())
    values = torch.stack([
        pos_tok / n_tok,
        neg_tok / n_tok,
        ratio_sum / n_tok,
        neg_held_sum / neg_tok.clamp(min=1.0),
        pos_held_sum / pos_tok.clamp(min=1.0),
        (r * rows).sum() / rows.sum().clamp(min=1.0),
        delta.sum() / n_tok,
        ((delta * delta).sum() / n_tok - (delta.sum() / n_tok) ** 2).clamp(min=0.0).sqrt(),
        delta.abs().amax() if delta.numel() else torch.zeros(()),
    ]).tolist()
    return NFTLossStats(*values)
