"""The NFT objective (arXiv 2505.18116, Eq. 10) in plain torch; no verl import.

Notation, per prompt q with K answers sampled from the old policy:

* ``y_i ∈ {0, 1}``: the verifier's verdict on answer i.
* ``r̂ = clip(mean_i y_i, R_MIN, R_MAX)`` with ``R_MIN, R_MAX = 0.02, 0.98``: the group correct rate.
* ``Δ_t = logπ_θ(a_t) − logπ_old(a_t)`` and the ratio ``R_t = exp(min(Δ_t, M))``, ``M = max_log_ratio = 10``;
  ``ratio_type="sequence"`` uses one ``R = exp(min(Σ_t Δ_t, M))`` per answer instead.
* ``max_sg(x, c) = x + stopgrad(max(x, c) − x)``: the value is clamped from below, the gradient is x's.

Per-token loss (``ratio_type="token"``)::

    y = 1:  ℓ_t = −ω(r̂) · log max_sg(R_t, c₊)
    y = 0:  ℓ_t = −ω(r̂) · λ · log max_sg((1 − r̂·R_t) / (1 − r̂), ε)

with ``λ = neg_weight`` (1: NFT, 0: RFT), ``ε = clamp_negative`` (default 1), ``c₊ = clamp_positive``
(default 0) and the prompt weight::

    normalize = 0:  ω = 1
    normalize = 1:  ω = 1 − r̂                 (default; on-policy gradient = Dr.GRPO's)
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
DEFAULT_MAX_LOG_RATIO = 10.0
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
    """Invert :func:`encode_advantages` on valid tokens.

    Returns per-token ``(y, r̂)`` of shape (B, T), float32; at masked positions y = 0 and r̂ = 0.5 (finite
    placeholders). Raises :class:`InvalidAdvantageEncoding` when a valid token holds a value that no
    (y, r̂ ∈ [0.02, 0.98]) pair produces, e.g. 0 (a GRPO advantage of a uniform group) or a
    whitened advantage outside [−0.98, 0.98], or when a response's valid tokens disagree.
    """
    mask = response_mask.to(torch.bool)
    a = advantages.detach().to(torch.float32)
    mag = a.abs()
    bad = mask & ((mag < R_MIN - _DECODE_ATOL) | (mag > R_MAX + _DECODE_ATOL) | ~torch.isfinite(a))
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
    has_tokens = mask.any(dim=-1)
    uneven = has_tokens & ((hi - lo) > _DECODE_ATOL)
    if bool(uneven.any()):
        row = int(uneven.nonzero()[0])
        raise InvalidAdvantageEncoding(
            f"advantages are not an NFT encoding: response {row} has different advantages on its tokens "
            f"(min {lo[row].item():.6g}, max {hi[row].item():.6g}); NFT writes one value y - r per response. "
            "Use algorithm.adv_estimator=nft with the 'nft' policy loss."
        )
    y = (a > 0) & mask
    r_hat = torch.where(y, 1.0 - a, -a).clamp(R_MIN, R_MAX)
    r_hat = torch.where(mask, r_hat, torch.full_like(r_hat, 0.5))
    return y.to(torch.float32), r_hat


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

    def as_metrics(self, prefix: str = "actor/nft/") -> dict[str, float]:
        return {prefix + k: float(v) for k, v in self.__dict__.items()}


def nft_loss_matrix(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    correct: torch.Tensor,
    r_hat: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    neg_weight: float = 1.0,
    normalize: int = 1,
    clamp_negative: float = 1.0,
    clamp_positive: float = 0.0,
    ratio_type: str = "token",
    max_log_ratio: float = DEFAULT_MAX_LOG_RATIO,
) -> tuple[torch.Tensor, NFTLossStats]:
    """Per-token NFT loss matrix (B, T), float32, zero and finite at masked positions.

    Args:
        log_prob, old_log_prob: (B, T) log-probabilities of the sampled tokens (current / old policy).
        correct: (B,) or (B, T) verdict y ∈ {0, 1}.
        r_hat: (B,) or (B, T) clipped group correct rate r̂ ∈ [0.02, 0.98].
        response_mask: (B, T) valid-token mask.

    Returns the loss matrix ℓ (sum it over valid tokens for the objective, or pass it to verl's
    ``agg_loss``) and detached statistics. Every entry is finite for any finite inputs: the ratio is
    capped at e^M, negatives with r̂·R ≥ 1 are held at ε, and masked positions are zeroed.
    """
    if ratio_type not in RATIO_TYPES:
        raise ValueError(f"ratio_type must be one of {RATIO_TYPES}, got {ratio_type!r}")
    if clamp_negative <= 0:
        raise ValueError(f"clamp_negative must be > 0, got {clamp_negative!r}")
    if clamp_positive < 0:
        raise ValueError(f"clamp_positive must be >= 0, got {clamp_positive!r}")
    mask = response_mask.to(torch.bool)
    maskf = mask.to(torch.float32)
    B, T = mask.shape
    y = correct.to(torch.float32)
    r = r_hat.to(torch.float32)
    if y.dim() == 1:
        y = y.unsqueeze(-1).expand(B, T)
    if r.dim() == 1:
        r = r.unsqueeze(-1).expand(B, T)
    # Placeholders at masked positions keep every intermediate finite (agg_loss multiplies by the mask,
    # and 0 * NaN is NaN).
    r = torch.where(mask, r, torch.full_like(r, 0.5))
    delta = torch.where(mask, log_prob.to(torch.float32) - old_log_prob.to(torch.float32), torch.zeros_like(r))

    if ratio_type == "token":
        log_ratio = delta.clamp(max=max_log_ratio)
    else:
        log_ratio = (delta * maskf).sum(dim=-1, keepdim=True).clamp(max=max_log_ratio).expand(B, T)
        first_valid = mask.to(torch.long).argmax(dim=-1, keepdim=True)
        y, r = y.gather(-1, first_valid).expand(B, T), r.gather(-1, first_valid).expand(B, T)
    ratio = torch.exp(log_ratio)

    # Positive term: −log max_sg(R, c₊). Value −max(log R, log c₊); gradient −(R / max(R, c₊)) dlogR.
    # Computed in log space so that R underflowing to 0 never gives log(0).
    if clamp_positive > 0:
        log_floor = math.log(clamp_positive)
        pos_held = log_ratio < log_floor
        scale = torch.exp(log_ratio - log_ratio.clamp(min=log_floor)).detach()
        pos_log = scale * log_ratio + (log_ratio.clamp(min=log_floor) - scale * log_ratio).detach()
    else:
        pos_held = torch.zeros_like(mask)
        pos_log = log_ratio
    pos_loss = -pos_log

    # Negative term: −log max_sg(x, ε) with x = (1 − r̂R)/(1 − r̂). x ≤ 1/(1 − r̂) ≤ 50 is bounded above and
    # R ≤ e^M bounds it below, so both the value and the straight-through gradient stay finite.
    x = (1.0 - r * ratio) / (1.0 - r)
    neg_held = x < clamp_negative
    x_st = x + (x.clamp(min=clamp_negative) - x).detach()
    neg_loss = -torch.log(x_st)

    omega = prompt_weight(r, normalize)
    loss = omega * (y * pos_loss + (1.0 - y) * neg_weight * neg_loss)
    if ratio_type == "sequence":
        lengths = maskf.sum(dim=-1, keepdim=True).clamp(min=1.0)
        loss = loss / lengths
    loss = torch.where(mask, loss, torch.zeros_like(loss))

    with torch.no_grad():
        n_tok = maskf.sum().clamp(min=1.0)
        pos_tok = (y * maskf).sum()
        neg_tok = ((1.0 - y) * maskf).sum()
        stats = NFTLossStats(
            pos_token_frac=(pos_tok / n_tok).item(),
            neg_token_frac=(neg_tok / n_tok).item(),
            ratio_mean=((ratio * maskf).sum() / n_tok).item(),
            neg_clamped_frac=((neg_held.float() * (1.0 - y) * maskf).sum() / neg_tok.clamp(min=1.0)).item(),
            pos_clamped_frac=((pos_held.float() * y * maskf).sum() / pos_tok.clamp(min=1.0)).item(),
            r_mean=_row_mean(r, mask),
            log_ratio_mean=((delta * maskf).sum() / n_tok).item(),
        )
    return loss, stats


def _row_mean(per_token: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over rows with a valid token of the row's value at its first valid token."""
    rows = mask.any(dim=-1)
    if not bool(rows.any()):
        return 0.0
    first = mask.to(torch.long).argmax(dim=-1, keepdim=True)
    return per_token.gather(-1, first).squeeze(-1)[rows].mean().item()
