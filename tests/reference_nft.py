"""A plain, per-response transcription of the NFT objective (arXiv 2505.18116, Section 4), for tests only.

Written independently of ``nft.objective``: float64, one response at a time, the straight-through
clamp spelled literally as ``x + (max(x, c) - x).detach()``.
"""

from __future__ import annotations

import math

import torch


def max_sg(x: torch.Tensor, floor: float) -> torch.Tensor:
    return x + (torch.clamp(x, min=floor) - x).detach()


def omega(r: float, normalize: int) -> float:
    return {0: 1.0, 1: 1.0 - r, 2: math.sqrt((1.0 - r) / r)}[normalize]


def response_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    y: int,
    r_raw: float,
    *,
    neg_weight: float,
    normalize: int,
    clamp_negative: float = 1.0,
    clamp_positive: float = 0.0,
    ratio_type: str = "token",
) -> torch.Tensor:
    """Summed loss of one response (1-D tensors of its valid tokens), r_raw unclipped."""
    r = min(max(r_raw, 0.02), 0.98)
    w = omega(r, normalize)
    if ratio_type == "token":
        ratio = torch.exp(torch.clamp(logp - old_logp, max=10.0))
    else:
        ratio = torch.exp(torch.clamp((logp - old_logp).sum(), max=10.0)).reshape(1)
    if y == 1:
        per = -torch.log(max_sg(ratio, clamp_positive))
    else:
        per = -neg_weight * torch.log(max_sg((1.0 - r * ratio) / (1.0 - r), abs(clamp_negative)))
    return w * per.sum()
