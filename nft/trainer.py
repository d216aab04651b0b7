"""Thin extensions of verl 0.9.1's v1 trainer, added through subclassing (no verl file changed).

1. ``algorithm.filter_groups.max_num_gen_batches`` is enforced. verl 0.9.1 ignores it
   (``trainer/ppo/v1/trainer_base.py::PPOTrainer._resolve_filter_groups_metric`` only warns), so with DAPO
   dynamic sampling a saturated dataset (every group all-correct) regenerates forever. Here one
   *generation batch* is the sync sampler's in-flight window, ``max_inflight_gen_batches × train_batch_size``
   prompts (``trainer/ppo/v1/replay_buffer.py::ReplayBuffer.sample`` never has more in flight), so a step
   may dispatch at most ``max_num_gen_batches × max_inflight_gen_batches × train_batch_size`` prompts
   (the authors' 10 × 3 × 512 = 15360). Exceeding it raises :class:`GenerationBudgetExceeded`.
   ``max_num_gen_batches <= 0`` means no cap (verl's convention).

2. NFT group statistics are logged each step under ``nft/``: how many prompt groups were judged, the
   share filtered as all-correct / all-wrong (from the replay buffer's ``_dapo_filtered_reward_counts``),
   the share of all-correct / all-wrong groups among the kept ones, and quantiles of the group accuracy
   r = mean(y) with y = [score > 0] over the kept groups (the r̂ the NFT loss uses before its clip).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

R_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


class GenerationBudgetExceeded(RuntimeError):
    """DAPO dynamic sampling needed more generation batches than ``filter_groups.max_num_gen_batches``."""


# --------------------------------------------------------------------------------------------- pure helpers
def generation_cap_prompts(config) -> int | None:
    """Prompts one step may dispatch (see module docstring), or None when uncapped / filtering is off."""
    fg = config.algorithm.get("filter_groups", None)
    if fg is None or not fg.get("enable", False):
        return None
    max_batches = int(fg.get("max_num_gen_batches", 0) or 0)
    if max_batches <= 0:
        return None
    inflight = int(fg.get("max_inflight_gen_batches", 1) or 1)
    return max_batches * inflight * int(config.data.train_batch_size)


def group_accuracy(uids: Sequence, scores: Sequence[float]) -> dict:
    """r per prompt group: mean over the group's answers of y = [score > 0]; returns {uid: r}."""
    if len(uids) != len(scores):
        raise ValueError(f"uids ({len(uids)}) and scores ({len(scores)}) differ in length")
    sums: dict = {}
    counts: dict = {}
    for uid, s in zip(uids, scores, strict=True):
        sums[uid] = sums.get(uid, 0.0) + (1.0 if float(s) > 0 else 0.0)
        counts[uid] = counts.get(uid, 0) + 1
    return {uid: sums[uid] / counts[uid] for uid in sums}


def nft_group_metrics(r_values: Sequence[float], filtered_counts: Mapping | None) -> dict[str, float]:
    """Per-step group statistics.

    Args:
        r_values: group accuracies r of the groups kept for training.
        filtered_counts: {shared metric value: number of groups} evicted by DAPO filtering this step
            (value > 0 = all answers correct, otherwise all wrong), or None.
    """
    r = np.asarray(list(r_values), dtype=float)
    filtered_correct = sum(int(c) for v, c in (filtered_counts or {}).items() if float(v) > 0)
    filtered_wrong = sum(int(c) for v, c in (filtered_counts or {}).items() if float(v) <= 0)
    kept = int(r.size)
    judged = kept + filtered_correct + filtered_wrong
    out: dict[str, float] = {
        "nft/groups/judged": float(judged),
        "nft/groups/kept": float(kept),
        "nft/groups/filtered_all_correct": float(filtered_correct),
        "nft/groups/filtered_all_wrong": float(filtered_wrong),
        "nft/groups/filtered_all_correct_frac": filtered_correct / judged if judged else 0.0,
        "nft/groups/filtered_all_wrong_frac": filtered_wrong / judged if judged else 0.0,
    }
    if kept:
        out["nft/groups/kept_all_correct_frac"] = float(np.mean(r >= 1.0))
        out["nft/groups/kept_all_wrong_frac"] = float(np.mean(r <= 0.0))
        out["nft/r/mean"] = float(r.mean())
        out["nft/r/min"] = float(r.min())
        out["nft/r/max"] = float(r.max())
        for q, v in zip(R_QUANTILES, np.quantile(r, R_QUANTILES), strict=True):
            out[f"nft/r/p{int(round(q * 100))}"] = float(v)
    return out


# --------------------------------------------------------------------------------------------- trainer mixin
class NFTTrainerMixin:
    """Mixed in front of a verl v1 ``PPOTrainer`` subclass (see :func:`nft_trainer_cls`)."""

    _nft_dispatched: int = 0
    _nft_r_values: list
    _nft_truncated: list

    def _nft_cap(self) -> int | None:
        return generation_cap_prompts(self.config)

    def prepare_step(self) -> dict:
        # verl: PPOTrainer.step -> prepare_step() submits one train batch (sync mode) before sampling.
        self._nft_dispatched = int(self.config.data.train_batch_size)
        self._nft_r_values = []
        return super().prepare_step()

    def _add_prompts_to_generate(self, num_prompts: int) -> int:
        # verl: the replay buffer's refill_fn (DAPO eviction refills and failed-group refills).
        cap = self._nft_cap()
        if cap is not None and self._nft_dispatched + num_prompts > cap:
            fg = self.config.algorithm.filter_groups
            raise GenerationBudgetExceeded(
                f"DAPO dynamic sampling needs more than algorithm.filter_groups.max_num_gen_batches="
                f"{fg.max_num_gen_batches} generation batches of {int(fg.get('max_inflight_gen_batches', 1))}"
                f" x {self.config.data.train_batch_size} prompts at step {getattr(self, 'global_steps', '?')}: "
                f"{self._nft_dispatched} prompts already dispatched, {num_prompts} more requested, cap {cap}. "
                "Too few prompt groups have mixed correct/wrong answers (the data is too easy or too hard for "
                "the model). Use harder/easier data, raise max_num_gen_batches, or set it to 0 for no cap."
            )
        self._nft_dispatched += num_prompts
        return super()._add_prompts_to_generate(num_prompts)

    def _compute_advantage(self, batch, metrics: dict):
        try:
            self._nft_r_values.extend(self._nft_batch_group_accuracy(batch).values())
            self._nft_truncated.append(self._nft_batch_truncation_rate(batch))
        except Exception as e:  # statistics must never stop training
            logger.warning("nft: group statistics unavailable this step: %s", e)
        return super()._compute_advantage(batch, metrics)

    @staticmethod
    def _nft_batch_truncation_rate(batch) -> float:
        """Share of the batch's answers that nft.reward.manager.NFTRewardManager marked truncated (no EOS
        within max_response_length; scored negative by default); nan with another reward manager."""
        import transfer_queue as tq

        from nft.reward.manager import truncation_rate

        # verl keeps each answer's reward_extra_info in "extra_fields" (trainer/ppo/v1/trainer_base.py,
        # the reward-metrics block reads them the same way).
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
        fields = data.pop("extra_fields").tolist()
        keep = [not tag.get("is_padding", False) for tag in batch.tags]
        return truncation_rate(f for f, k in zip(fields, keep, strict=True) if k)

    @staticmethod
    def _nft_batch_group_accuracy(batch) -> dict:
        import transfer_queue as tq

        # Same access pattern as verl's PPOTrainer._compute_advantage (trainer/ppo/v1/trainer_base.py).
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["uid", "rm_scores"])
        data = data.to_padded_tensor()
        uids = list(data.pop("uid").tolist())
        seq_scores = data["rm_scores"].float().sum(-1).tolist()
        keep = [not tag.get("is_padding", False) for tag in batch.tags]
        pairs = [(u, s) for u, s, k in zip(uids, seq_scores, keep, strict=True) if k]
        return group_accuracy([p[0] for p in pairs], [p[1] for p in pairs])

    def step(self, metrics: dict, timing_raw: dict):
        self._nft_r_values = []
        self._nft_truncated = []
        out = super().step(metrics, timing_raw)
        from verl.trainer.ppo.v1.replay_buffer import DAPO_FILTERED_REWARD_COUNTS_KEY

        metrics.update(nft_group_metrics(self._nft_r_values, metrics.get(DAPO_FILTERED_REWARD_COUNTS_KEY)))
        metrics["nft/gen/prompts_dispatched"] = float(self._nft_dispatched)
        rates = [x for x in self._nft_truncated if x == x]  # without nan (no truncation flag this step)
        if rates:
            metrics["nft/reward/truncated_rate"] = sum(rates) / len(rates)
        return out


_CLS_CACHE: dict = {}


def nft_trainer_cls(trainer_mode: str):
    """The verl v1 trainer registered for ``trainer_mode`` with :class:`NFTTrainerMixin` in front."""
    from verl.trainer.ppo.v1 import get_trainer_cls

    base = get_trainer_cls(trainer_mode)
    if base not in _CLS_CACHE:
        _CLS_CACHE[base] = type(f"NFT{base.__name__}", (NFTTrainerMixin, base), {})
    return _CLS_CACHE[base]
