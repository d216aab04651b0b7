"""``extra_info["truncated"]`` and ``reward_kwargs.truncated_is_negative`` in ``nft.reward.compute_score``
and in :func:`nft.reward.truncation.negative_if_truncated` (the manager that sets the flag is tested in
tests/test_reward_manager.py, the whole loop in tests/test_multinode_e2e.py)."""

from __future__ import annotations

import numpy as np
import pytest

from nft.reward import compute_score
from nft.local.toy_task import compute_score_truncated_negative as toy_compute_score
from nft.reward.truncation import negative_if_truncated

BOXED = "First try: \\boxed{42}. Let me double-check by expanding the product term by"


@pytest.mark.parametrize("flag", [True, np.bool_(True), 1, "true"])
def test_truncated_scores_negative_by_default(flag):
    r = compute_score("math_dapo", BOXED, "42", {"index": 3, "truncated": flag})
    assert r["score"] == -1.0 and r["acc"] == 0.0
    assert r["method"] == "truncated" and r["truncated"] is True
    assert r["pred"] == "42" and r["has_answer"] is True  # what the text alone would have given


def test_not_truncated_is_scored_from_the_text():
    assert compute_score("math_dapo", BOXED, "42", {"truncated": False})["score"] == 1.0
    assert compute_score("math_dapo", BOXED, "42", {"index": 1})["truncated"] is False
    assert compute_score("math_dapo", BOXED, "42", None)["score"] == 1.0


@pytest.mark.parametrize("off", [False, "false", 0, np.bool_(False)])
def test_truncated_is_negative_false_turns_it_off(off):
    r = compute_score("math_dapo", BOXED, "42", {"truncated": True}, truncated_is_negative=off)
    assert r["score"] == 1.0 and r["truncated"] is True and r["method"] == "fast"


def test_same_keys_whatever_the_path():
    keys = {"score", "acc", "pred", "has_answer", "timeout", "truncated", "method", "error"}
    for extra in ({"truncated": True}, {"truncated": False}, None):
        for sol in (BOXED, "no answer here", "\\boxed{x^2+2x+1}"):
            assert set(compute_score("m", sol, "(x+1)^2", extra)) == keys


@pytest.mark.parametrize("bad", ["maybe", 2, 0.5, [True]])
def test_bad_truncated_field_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match=r'extra_info\["truncated"\]'):
        compute_score("m", BOXED, "42", {"truncated": bad})


@pytest.mark.parametrize("bad", ["sometimes", 2])
def test_bad_option_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="reward_kwargs.truncated_is_negative"):
        compute_score("m", BOXED, "42", {"truncated": True}, truncated_is_negative=bad)


def test_wrapper_for_any_reward_function():
    calls = []

    def scorer(data_source, solution_str, ground_truth, extra_info=None, **kw):
        calls.append(kw)
        return 1.0 if ground_truth in solution_str else -1.0

    wrapped = negative_if_truncated(scorer)
    assert wrapped("d", "is 7", "7", {"truncated": False}) == {"score": 1.0, "acc": 1.0, "truncated": False}
    assert wrapped("d", "is 7", "7", {"truncated": True}) == {"score": -1.0, "acc": 0.0, "truncated": True}
    assert wrapped("d", "is 7", "7", {"truncated": True}, truncated_is_negative=False, other=1)["score"] == 1.0
    assert calls[-1] == {"other": 1}  # the option is consumed, others pass through


def test_toy_task_wrapped():
    assert toy_compute_score("toy", "3", "3", {"truncated": False})["score"] == 1.0
    r = toy_compute_score("toy", "3", "3", {"truncated": True})
    assert r["score"] == -1.0 and r["pred"] == "3" and r["truncated"] is True
