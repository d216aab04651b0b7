"""nft.reward loaded by verl 0.9.1's own machinery and scoring a DataProto.

Path exercised (verl 0.9.1): ``experimental/reward_loop/reward_loop.py::RewardLoopWorker`` (the
class the Ray reward-loop actors wrap) -> ``trainer/ppo/reward.py::load_reward_manager`` ->
``get_custom_reward_fn`` -> ``utils/import_utils.py::load_extern_object("pkg://nft.reward",
"compute_score")``, ``reward_kwargs`` merged into every call -> the registered ``naive`` reward
manager (``experimental/reward_loop/reward_manager/naive.py::NaiveRewardManager.run_single``),
which decodes the valid response tokens and calls our function through ``run_in_executor`` (a
worker thread).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

verl = pytest.importorskip("verl")

CASES = [  # (response text, ground truth, expected score)
    ("Adding the parts, 20 + 22 = 42.\n\n\\boxed{42}", "42", 1.0),
    ("So the ratio is \\boxed{\\dfrac{2}{4}}.", "\\frac{1}{2}", 1.0),
    ("Expanding gives \\boxed{x^2+2x+1}.", "(x+1)^2", 1.0),  # needs math-verify (pool, thread)
    ("The total is 42 but we subtract one.\nAnswer: 41", "42", -1.0),
    ("We have 6 * 7 = 42 and then", "42", -1.0),  # truncated: no final answer
    ("\\boxed{9^{9^{9^{9}}}}", "7", -1.0),  # pathological: bounded by reward_kwargs.timeout
]


@pytest.fixture(scope="module")
def verl_config(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from nft.local.tiny_model import build_tiny_model

    model_dir = build_tiny_model(str(tmp_path_factory.mktemp("tiny_model")))
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = compose(
            "ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={model_dir}",
                "reward.custom_reward_function.path=pkg://nft.reward",
                "reward.custom_reward_function.name=compute_score",
                "+reward.custom_reward_function.reward_kwargs.timeout=2.0",
            ],
        )
    return cfg


def token_batch(tokenizer, response_ids: list[list[int]], gts: list[str], prompt_len: int, resp_len: int):
    """A DataProto as verl's reward loop receives it: the prompt "Solve it." left-padded to prompt_len,
    each response's token ids right-padded to resp_len, data source math_dapo."""
    from verl import DataProto

    n = len(response_ids)
    pad = tokenizer.pad_token_id
    prompts = torch.full((n, prompt_len), pad, dtype=torch.long)
    resp = torch.full((n, resp_len), pad, dtype=torch.long)
    mask = torch.zeros((n, prompt_len + resp_len), dtype=torch.long)
    p_ids = tokenizer.encode("Solve it.", add_special_tokens=False)[-prompt_len:]
    for i, r_ids in enumerate(response_ids):
        assert len(r_ids) <= resp_len, (r_ids, resp_len)
        prompts[i, prompt_len - len(p_ids):] = torch.tensor(p_ids)
        mask[i, prompt_len - len(p_ids):prompt_len] = 1
        resp[i, : len(r_ids)] = torch.tensor(r_ids)
        mask[i, prompt_len:prompt_len + len(r_ids)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": resp, "attention_mask": mask,
                 "input_ids": torch.cat([prompts, resp], dim=1)},
        non_tensors={
            "data_source": np.array(["math_dapo"] * n, dtype=object),
            "reward_model": np.array([{"ground_truth": g, "style": "rule"} for g in gts], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(n)], dtype=object),
        },
    )


def _make_batch(tokenizer, responses: list[str], gts: list[str]):
    ids = [tokenizer.encode(text, add_special_tokens=False) for text in responses]
    return token_batch(tokenizer, ids, gts, prompt_len=8, resp_len=64)


def test_reward_loop_worker_scores_dataproto(verl_config):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    worker = RewardLoopWorker(verl_config)  # the class verl wraps as a Ray actor
    assert isinstance(worker.reward_manager, NaiveRewardManager)
    batch = _make_batch(worker.input_tokenizer, [c[0] for c in CASES], [c[1] for c in CASES])
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
    scores = [o["reward_score"] for o in outputs]
    assert scores == [c[2] for c in CASES], [o["reward_extra_info"] for o in outputs]
    infos = [o["reward_extra_info"] for o in outputs]
    # verl stacks every key across samples (reward_loop.py::RewardLoopManager.compute_rm_score):
    # all results must carry the same keys
    assert all(set(i) == set(infos[0]) for i in infos)
    assert {"score", "acc", "pred", "timeout"} <= set(infos[0])
    assert infos[0]["pred"] == "42" and infos[1]["pred"] == "1/2"
    assert infos[4]["has_answer"] is False
    assert infos[5]["timeout"] is True  # reward_kwargs.timeout=2.0 reached compute_score
    # the reward lands on the last valid response token, as the trainer consumes it
    rm = NaiveRewardManager.assemble_rm_scores(batch, scores)
    last = batch.batch["attention_mask"][:, 8:].sum(-1) - 1
    assert rm[torch.arange(len(CASES)), last].tolist() == scores
    assert rm.abs().sum().item() == pytest.approx(sum(abs(s) for s in scores))


def test_load_reward_manager_uses_pkg_function(verl_config):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    import nft.reward

    fn = get_custom_reward_fn(verl_config)
    assert fn.args[0] is nft.reward.compute_score  # partial(_call_with_kwargs, raw_fn, reward_kwargs)
    r = fn(data_source="x", solution_str="\\boxed{1,000}", ground_truth="1000", extra_info={})
    assert r["score"] == 1.0 and r["method"] == "fast"


@pytest.mark.parametrize("kwargs,needle", [
    ({"grader": "author"}, "reward_kwargs.grader must be one of nft, authors, math-verify; got 'author'"),
    ({"truncated_is_negative": "maybe"}, "reward_kwargs.truncated_is_negative must be true or false"),
    ({"timeout": 0}, "reward_kwargs.timeout must be a positive number of seconds, got 0"),
])
def test_bad_reward_options_fail_at_start_up(compose_nft, kwargs, needle):
    """nft.checks refuses what compute_score would refuse inside a Ray actor at the first reward call."""
    from nft.checks import reward_options as config_problems

    key = "reward.custom_reward_function.reward_kwargs"
    cfg = compose_nft(["actor_rollout_ref.actor.strategy=fsdp2"] + [f"+{key}.{k}={v}" for k, v in kwargs.items()])
    problems = config_problems(cfg)
    assert any(needle in p and p.startswith("reward.custom_reward_function.") for p in problems), problems
    ok = compose_nft(["actor_rollout_ref.actor.strategy=fsdp2", f"+{key}.grader=authors", f"+{key}.timeout=2.5"])
    assert not [p for p in config_problems(ok) if "reward_kwargs" in p]
