"""Register NFT in verl 0.9.1: advantage estimator ``"nft"`` and policy loss ``"nft"``.

Importing this module is all it takes, in every process that computes advantages or losses. The
Hydra config does it through ``actor_rollout_ref.model.external_lib=nft.register``, which
``HFModelConfig.__post_init__`` imports in the trainer and in every actor worker
(``verl/workers/config/model.py``) before the loss is bound. Registration is idempotent: importing
twice, or under another module name (e.g. a file path), never raises.

Both functions live here as thin verl adapters; the math is in :mod:`nft.objective`.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import torch
from verl.trainer.ppo import core_algos

# Not `from nft.config import ...`: nft.config imports verl, and `import verl` imports this module when
# VERL_USE_EXTERNAL_MODULES names it (verl/__init__.py::import_external_libs), so nft.config may still be
# initialising here; its names are looked up when used.
import nft.config as nft_config
from nft.objective import (
    clip_correct_rate,
    decode_advantages,
    encode_advantages,
    group_correct_rates,
    nft_loss_matrix,
)

NAME = "nft"
_MARK = "__nft_plugin__"


def entry_point_problem() -> str | None:
    """Why the NFT estimator must not run in this process, or None (:data:`nft.config.ENTRY_POINT_ENV`)."""
    if os.environ.get(nft_config.ENTRY_POINT_ENV) == "nft.main":
        return None
    return (
        f"the 'nft' advantage estimator runs only under `python -m nft.main` ({nft_config.ENTRY_POINT_ENV} is not set in this "
        "process): verl's own entry points (verl.trainer.main_ppo, the experimental one_step_off_policy / "
        "fully_async_policy trainers) skip NFT's start-up checks, and the experimental trainers and the legacy "
        "trainer replace the NFT loss by 'bypass_mode' (PPO-clip) when algorithm.rollout_correction.bypass_mode=True. "
        "Launch with `python -m nft.main` (or train_7B.sh / train_32B.sh) and the same overrides."
    )


def compute_nft_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    config: Optional[Any] = None,
    index: Optional[np.ndarray] = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NFT advantage estimator (verl signature; ``config`` may be None).

    ``y_i = [Σ_t token_level_rewards[i, t] > 0]`` (0/1 and ±1 verifier scores alike), ``r_i`` = mean of y
    over *every* response sharing ``index`` (the sampled group), and
    ``advantages = returns = (y − clip(r, 0.02, 0.98)) · response_mask``.

    Every row of a group votes, also one whose mask is empty: verl's rollout rejection sampling
    (``rollout_rs``) empties the masks of rejected answers and leaves their rewards
    (``trainer/ppo/rollout_corr_helper.py::compute_rollout_correction_and_add_to_batch`` rewrites
    ``response_mask`` only), and r̂ estimates the sampling policy's correct rate, which a rejected
    answer still measures (it then gets no gradient). verl's padding rows cannot join a group: they
    carry a uid of their own (``trainer/ppo/padding_utils.py::upsample_batch_to_divisible_size``).
    """
    if index is None:
        raise ValueError(
            "the 'nft' advantage estimator needs the prompt index (uid) to form groups; verl passes it as "
            "`index` from data.non_tensor_batch['uid']"
        )
    problem = entry_point_problem()
    if problem is not None:
        raise RuntimeError(problem)
    with torch.no_grad():
        correct = token_level_rewards.sum(dim=-1) > 0
        r = group_correct_rates(correct, list(index))
        advantages = encode_advantages(correct, clip_correct_rate(r), response_mask.to(torch.bool))
    return advantages, advantages.clone()


def compute_policy_loss_nft(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config: Optional[Any] = None,
    rollout_is_weights: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """NFT policy loss (verl's policy-loss signature, called by ``verl/workers/utils/losses.py::ppo_loss``).

    Decodes (y, r̂) from the advantages, builds :func:`nft.objective.nft_loss_matrix`, multiplies by
    ``rollout_is_weights`` when given and aggregates through ``core_algos.agg_loss`` with
    ``config.global_batch_info`` (so micro-batch and DP-rank gradients sum to the global-batch one).
    With ``policy_loss.aggregation=authors`` the result is the authors' per-rank token sum / 1000.
    """
    if config is None:
        raise ValueError("the 'nft' policy loss needs the actor config (verl passes `config`)")
    pl = config.policy_loss
    if not isinstance(pl, nft_config.NFTPolicyLossConfig):
        raise TypeError(
            f"the 'nft' policy loss needs actor_rollout_ref.actor.policy_loss._target_=nft.config.NFTPolicyLossConfig "
            f"(got {type(pl).__name__}): the NFT knobs live in that class"
        )
    y, r_hat = decode_advantages(advantages, response_mask)
    loss_mat, stats = nft_loss_matrix(log_prob, old_log_prob, y, r_hat, response_mask, **pl.loss_kwargs())
    if rollout_is_weights is not None:
        valid = response_mask.to(torch.bool)
        loss_mat = torch.where(valid, loss_mat * rollout_is_weights.to(loss_mat.dtype), torch.zeros_like(loss_mat))
    batch_info = dict(config.get("global_batch_info", None) or {})
    if pl.aggregation == "authors":
        # agg_loss("token-sum") = local token sum · dp_size (core_algos.agg_loss), and the engine averages
        # gradients over the dp ranks (verl/workers/engine/fsdp/transformer_impl.py::forward_backward_batch
        # calls loss.backward() per micro-batch without rescaling), so the reduced gradient is that of the
        # global token sum. The authors' dp_actor sums each rank's micro-batch token sums / divisor and
        # FSDP averages over their D ranks: global token sum / (D · divisor). Dividing by
        # authors_dp_size · divisor gives exactly that at their D whatever our dp_size (0 = ours).
        divisor = pl.authors_token_divisor if pl.ratio_type == "token" else 1.0
        dp_size = int(batch_info.get("dp_size", 1) or 1)
        ref_dp = pl.authors_dp_size or dp_size
        loss = core_algos.agg_loss(loss_mat=loss_mat, loss_mask=response_mask, loss_agg_mode="token-sum", **batch_info)
        loss = loss / (ref_dp * divisor)
    else:
        loss = core_algos.agg_loss(loss_mat=loss_mat, loss_mask=response_mask, loss_agg_mode=loss_agg_mode, **batch_info)
    metrics = stats.as_metrics()
    # verl's vanilla loss reports actor/ppo_kl; keep the same key so dashboards compare.
    metrics["actor/ppo_kl"] = -stats.log_ratio_mean
    return loss, metrics


def _register() -> None:
    compute_nft_advantage.__dict__[_MARK] = True
    compute_policy_loss_nft.__dict__[_MARK] = True
    existing = core_algos.ADV_ESTIMATOR_REGISTRY.get(NAME)
    if existing is not None and not getattr(existing, _MARK, False):
        raise RuntimeError(f"verl already has a different advantage estimator named {NAME!r}: {existing}")
    if existing is None:
        core_algos.register_adv_est(NAME)(compute_nft_advantage)
    existing = core_algos.POLICY_LOSS_REGISTRY.get(NAME)
    if existing is not None and not getattr(existing, _MARK, False):
        raise RuntimeError(f"verl already has a different policy loss named {NAME!r}: {existing}")
    if existing is None:
        core_algos.register_policy_loss(NAME)(compute_policy_loss_nft)


_register()
