"""A verl 0.9.1 reward manager that tells the reward function whether a response was truncated.

verl's ``naive`` reward-loop manager
(``verl/experimental/reward_loop/reward_manager/naive.py::NaiveRewardManager.run_single``) decodes the
valid response tokens with ``skip_special_tokens=True`` and calls ``compute_score`` with
``extra_info`` taken from the data set, so the reward function cannot tell a response that ended
(EOS) from one cut at ``max_response_length``: today an unfinished response whose text holds an
earlier ``\\boxed{}`` can score +1. :class:`NFTRewardManager` is that manager plus one field:

    extra_info["truncated"] = no EOS token within the response's ``max_response_length`` tokens

decided from the token ids and the attention mask (never from decoded text): a response is truncated
when its valid length (``attention_mask`` over the response part, as the naive manager computes it)
reaches the rollout's ``response_length`` (``actor_rollout_ref.rollout.response_length``, which
defaults to ``data.max_response_length``; the width of the ``responses`` tensor when neither is set)
and its last valid token is not an EOS token (the tokenizer's ``eos_token_id`` and the model's
``generation_config.eos_token_id``, the ids the rollout stops on). :func:`nft.reward.compute_score`
then scores it ``-1`` unless ``reward_kwargs.truncated_is_negative=false``; its result carries
``truncated`` either way, so verl's validation metrics average it per data source
(``val-aux/<source>/truncated/mean@k``) and :func:`truncation_rate` gives the per-step rate from the
training batch's ``extra_fields``.

Registered under the name ``nft`` in verl's reward-loop registry
(``verl/experimental/reward_loop/reward_manager/registry.py::register``); ``recipes/config/nft_trainer.yaml``
selects it with ``reward.reward_manager.source=importlib`` and ``module.path=pkg://nft.reward.manager``,
so verl's ``trainer/ppo/reward.py::resolve_reward_manager_cls`` imports this module (which registers
the class) in whichever process builds the reward loop — the registry alone would require the module to
be imported before verl validates ``RewardManagerConfig`` (``verl/workers/config/reward.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

logger = logging.getLogger(__name__)

__all__ = ["NFTRewardManager", "eos_token_ids", "is_truncated", "response_limit", "truncation_rate"]


def eos_token_ids(tokenizer: Any, model_path: str | None = None) -> frozenset[int]:
    """Token ids that end a response: the tokenizer's ``eos_token_id`` and the model's generation
    config ``eos_token_id`` (an int or a list; e.g. Qwen2.5 instruct models stop on both
    ``<|im_end|>`` and ``<|endoftext|>``)."""
    ids: set[int] = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    if model_path:
        try:
            from verl.utils.fs import copy_to_local
            from verl.utils.model import get_generation_config

            gen = get_generation_config(copy_to_local(model_path))
            g = getattr(gen, "eos_token_id", None) if gen is not None else None
            if isinstance(g, int):
                ids.add(g)
            elif isinstance(g, list | tuple):
                ids.update(int(x) for x in g if isinstance(x, int))
        except Exception as e:  # noqa: BLE001 - the tokenizer's EOS alone is still correct for most models
            logger.warning("nft reward manager: no generation config at %s (%s); EOS = tokenizer's only", model_path, e)
    if not ids:
        raise ValueError(
            "NFTRewardManager: the tokenizer has no eos_token_id and the model's generation_config names none; "
            "cannot tell finished from truncated responses"
        )
    return frozenset(ids)


def response_limit(config: Any, width: int) -> int:
    """``actor_rollout_ref.rollout.response_length``, else ``data.max_response_length``, else ``width``."""
    for path in (("actor_rollout_ref", "rollout", "response_length"), ("data", "max_response_length")):
        node = config
        try:
            for key in path:
                node = node.get(key) if hasattr(node, "get") else getattr(node, key)
                if node is None:
                    break
        except Exception:  # noqa: BLE001 - a config without that section
            node = None
        if node is not None:
            try:
                v = int(node)
            except (TypeError, ValueError):
                raise ValueError(f"{'.'.join(path)} must be an integer, got {node!r}") from None
            if v < 1:
                raise ValueError(f"{'.'.join(path)} must be >= 1, got {v}")
            return v
    return width


def is_truncated(valid_response_ids: Any, limit: int, eos_ids: Iterable[int]) -> bool:
    """True when the response filled its ``limit`` tokens and its last token is not an EOS."""
    n = int(len(valid_response_ids))
    if n < limit:
        return False
    return int(valid_response_ids[n - 1]) not in set(eos_ids)


def truncation_rate(extra_fields: Iterable[Any]) -> float:
    """Share of responses with ``reward_extra_info["truncated"]`` true among those that carry it, from
    verl's per-sample ``extra_fields`` (``trainer/ppo/v1/trainer_base.py`` reads them with
    ``tq.kv_batch_get(..., select_fields=["extra_fields"])``); ``nan`` when none carries it."""
    flags = []
    for ef in extra_fields:
        info = ef.get("reward_extra_info", ef) if isinstance(ef, dict) else None
        if isinstance(info, dict) and "truncated" in info:
            flags.append(bool(info["truncated"]))
    return float(np.mean(flags)) if flags else float("nan")


@register("nft")
class NFTRewardManager(NaiveRewardManager):
    """verl's naive reward-loop manager with ``extra_info["truncated"]`` (see the module docstring)."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        model_path = None
        try:
            model = config.actor_rollout_ref.model
            model_path = model.get("path") if hasattr(model, "get") else getattr(model, "path", None)
        except Exception:  # noqa: BLE001 - a config without a model section: tokenizer EOS only
            model_path = None
        self.eos_ids = eos_token_ids(tokenizer, model_path)
        self._limit_cfg = config

    def truncated(self, data: DataProto) -> bool:
        """Same slicing as ``NaiveRewardManager.run_single``: the last sequence, its valid response
        tokens from the attention mask."""
        item = data[-1:][0]
        response_ids = item.batch["responses"]
        width = response_ids.shape[-1]
        valid = int(item.batch["attention_mask"][-width:].sum())
        return is_truncated(response_ids[:valid], response_limit(self._limit_cfg, width), self.eos_ids)

    async def run_single(self, data: DataProto) -> dict:
        truncated = self.truncated(data)
        data = data[-1:]  # what the parent scores; a fresh DataProto, so the row we edit is ours
        infos = data.non_tensor_batch.get("extra_info")
        info = infos[0] if infos is not None and len(infos) else None
        info = dict(info) if isinstance(info, dict) else {}
        info["truncated"] = truncated
        data.non_tensor_batch["extra_info"] = np.array([info], dtype=object)
        return await super().run_single(data)
