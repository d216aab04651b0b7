"""``truncated_is_negative`` for any reward function (pure Python; verl is not imported here).

:func:`nft.reward.compute_score` applies the rule itself. :func:`negative_if_truncated` gives the same
behaviour to another reward function (a custom task's scorer) under
:class:`nft.reward.manager.NFTRewardManager`, which sets ``extra_info["truncated"]``:

* ``truncated_is_negative`` (a reward kwarg, default True) and ``extra_info["truncated"]`` true ->
  ``score = -1``, ``acc = 0`` whatever the wrapped function said;
* every result carries ``truncated`` (verl stacks result keys across samples, so it must be present
  on all of them).

:func:`nft.local.toy_task.compute_score_truncated_negative` is the CPU toy task wrapped this way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["negative_if_truncated"]


def negative_if_truncated(fn: Callable[..., Any]) -> Callable[..., dict]:
    """Wrap ``fn(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`` (returning a
    dict with ``score`` or a number) so that truncated responses score -1 (see the module docstring).
    ``truncated_is_negative`` is consumed here and not passed on."""
    from nft.reward import _flag, _truncated

    @functools.wraps(fn)
    def wrapped(data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs: Any) -> dict:
        negative = _flag(kwargs.pop("truncated_is_negative", None), "reward_kwargs.truncated_is_negative", True)
        truncated = _truncated(extra_info)
        out = fn(data_source, solution_str, ground_truth, extra_info, **kwargs)
        res = dict(out) if isinstance(out, dict) else {"score": float(out), "acc": 1.0 if float(out) > 0 else 0.0}
        res["truncated"] = truncated
        if truncated and negative:
            res["score"] = -1.0
            res["acc"] = 0.0
        return res

    return wrapped

