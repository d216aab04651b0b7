"""Truncated responses are negatives, through verl 0.9.1's own reward loop.

Path: ``experimental/reward_loop/reward_loop.py::RewardLoopWorker`` (the class verl's reward-loop Ray
actors wrap) -> ``trainer/ppo/reward.py::load_reward_manager`` -> ``resolve_reward_manager_cls`` with
``reward.reward_manager.source=importlib`` (as ``recipes/config/nft_trainer.yaml`` sets it) ->
:class:`nft.reward.manager.NFTRewardManager.run_single` on a ``DataProto`` of token ids ->
``nft.reward.compute_score`` with ``extra_info["truncated"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

verl = pytest.importorskip("verl")

PROMPT_LEN, RESP_LEN = 8, 24


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from nft.local.tiny_model import build_tiny_model

    return build_tiny_model(str(tmp_path_factory.mktemp("tiny_model")))


def _config(model_dir: str, *extra: str):
    from hydra import compose, initialize_config_dir

    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(
            "ppo_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={model_dir}",
                f"data.max_response_length={RESP_LEN}",
                "reward.custom_reward_function.path=pkg://nft.reward",
                "reward.custom_reward_function.name=compute_score",
                "reward.reward_manager.source=importlib",
                "reward.reward_manager.name=NFTRewardManager",
                "reward.reward_manager.module.path=pkg://nft.reward.manager",
                *extra,
            ],
        )


def _batch(tokenizer, rows: list[tuple[list[int], str]]):
    """rows: (response token ids, ground truth); right-padded responses of width RESP_LEN."""
    from test_reward_verl import token_batch

    return token_batch(tokenizer, [r for r, _ in rows], [g for _, g in rows], PROMPT_LEN, RESP_LEN)


def _rows(tokenizer):
    """Four responses that all contain a complete \\boxed{42}:

    0. short, ends with EOS                       -> finished
    1. fills all RESP_LEN tokens, no EOS           -> truncated (the box is an earlier, unfinished try)
    2. fills all RESP_LEN tokens, last token EOS   -> finished exactly at the limit
    3. short, no EOS (stopped for another reason)  -> not truncated: it did not reach the limit
    """
    eos = tokenizer.eos_token_id
    box = tokenizer.encode("so \\boxed{42}", add_special_tokens=False)
    filler = tokenizer.encode(" and", add_special_tokens=False)
    assert len(box) + 2 < RESP_LEN, len(box)
    full = (box + filler * RESP_LEN)[:RESP_LEN]
    assert len(full) == RESP_LEN
    return [
        (box + [eos], "42"),
        (full, "42"),
        (full[:-1] + [eos], "42"),
        (box, "42"),
    ]


def _score(config, rows_fn):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    from nft.reward.manager import NFTRewardManager

    worker = RewardLoopWorker(config)
    assert isinstance(worker.reward_manager, NFTRewardManager)
    batch = _batch(worker.input_tokenizer, rows_fn(worker.input_tokenizer))
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
    return batch, outputs


def test_truncated_response_scores_negative_through_verl_reward_loop(model_dir):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    batch, outputs = _score(_config(model_dir), _rows)
    infos = [o["reward_extra_info"] for o in outputs]
    assert [i["truncated"] for i in infos] == [False, True, False, False]
    assert [o["reward_score"] for o in outputs] == [1.0, -1.0, 1.0, 1.0]
    assert infos[1]["method"] == "truncated" and infos[1]["pred"] == "42"  # the text alone says +1
    assert all(set(i) == set(infos[0]) for i in infos)  # verl stacks every key across samples
    rm = NaiveRewardManager.assemble_rm_scores(batch, [o["reward_score"] for o in outputs])
    assert rm.sum(-1).tolist() == [1.0, -1.0, 1.0, 1.0]


def test_truncated_is_negative_false_scores_the_text(model_dir):
    cfg = _config(model_dir, "+reward.custom_reward_function.reward_kwargs.truncated_is_negative=false")
    _, outputs = _score(cfg, _rows)
    assert [o["reward_extra_info"]["truncated"] for o in outputs] == [False, True, False, False]
    assert [o["reward_score"] for o in outputs] == [1.0, 1.0, 1.0, 1.0]


def test_limit_follows_rollout_response_length(model_dir):
    """A response shorter than the tensor width but at the rollout's response_length is truncated."""
    cfg = _config(model_dir, "actor_rollout_ref.rollout.response_length=12")

    def rows(tok):
        box = tok.encode("so \\boxed{42}", add_special_tokens=False)
        filler = tok.encode(" and", add_special_tokens=False)
        return [((box + filler * 12)[:12], "42"), ((box + filler * 12)[:11], "42")]

    _, outputs = _score(cfg, rows)
    assert [o["reward_extra_info"]["truncated"] for o in outputs] == [True, False]
    assert [o["reward_score"] for o in outputs] == [-1.0, 1.0]


def test_registered_in_verls_registry():
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    from nft.reward.manager import NFTRewardManager

    assert get_reward_manager_cls("nft") is NFTRewardManager


def test_eos_ids_include_generation_config(model_dir):
    from transformers import AutoTokenizer, GenerationConfig

    from nft.reward.manager import eos_token_ids

    tok = AutoTokenizer.from_pretrained(model_dir)
    gen = GenerationConfig.from_pretrained(model_dir)
    gen.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    gen.save_pretrained(str(Path(model_dir) / "gen2"))
    (Path(model_dir) / "gen2" / "config.json").write_text((Path(model_dir) / "config.json").read_text())
    ids = eos_token_ids(tok, str(Path(model_dir) / "gen2"))
    assert ids == {tok.eos_token_id, tok.pad_token_id}


def test_bad_limit_names_the_key():
    from omegaconf import OmegaConf

    from nft.reward.manager import response_limit

    with pytest.raises(ValueError, match="actor_rollout_ref.rollout.response_length"):
        response_limit(OmegaConf.create({"actor_rollout_ref": {"rollout": {"response_length": 0}}}), 8)
    assert response_limit(OmegaConf.create({"data": {"max_response_length": 5}}), 8) == 5
    assert response_limit(OmegaConf.create({}), 8) == 8


def test_truncation_rate_from_extra_fields():
    from nft.reward.manager import truncation_rate

    fields = [{"reward_extra_info": {"truncated": True}}, {"reward_extra_info": {"truncated": False}},
              {"reward_extra_info": {"truncated": np.bool_(True)}}, {"other": 1}]
    assert truncation_rate(fields) == pytest.approx(2 / 3)
    assert np.isnan(truncation_rate([{"x": 1}]))
