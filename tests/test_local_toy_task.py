"""nft.local.toy_task: reward, parquet builder, warm start."""

from __future__ import annotations

import pytest

from nft.local import toy_task as T


@pytest.mark.parametrize(
    "solution, gt, score, pred",
    [
        ("3", "3", 1.0, "3"),
        ("3<|im_end|>", 3, 1.0, "3"),
        (" the answer is 2", "2", 1.0, "2"),
        ("21", "1", -1.0, "2"),  # the first digit counts
        ("x", "1", -1.0, ""),
        ("", "0", -1.0, ""),
        (None, "0", -1.0, ""),
    ],
)
def test_compute_score(solution, gt, score, pred):
    r = T.compute_score(T.DATA_SOURCE, solution, gt)
    assert r == {"score": score, "acc": 1.0 if score > 0 else 0.0, "pred": pred, "has_answer": pred != ""}
    assert T.compute_score_float(T.DATA_SOURCE, solution, gt) == score


def test_compute_score_never_raises():
    class Bad:
        def __str__(self):
            raise RuntimeError("boom")

    assert T.compute_score(T.DATA_SOURCE, Bad(), "1")["score"] == -1.0
    assert T.compute_score(T.DATA_SOURCE, "1", Bad())["score"] == -1.0


def test_parquet_in_verl_rl_format(tmp_path):
    import pandas as pd

    paths = T.build_parquet(str(tmp_path), k=4, n_train=40, n_val=8, seed=0)
    train, val = pd.read_parquet(paths["train"]), pd.read_parquet(paths["val"])
    assert len(train) == 40 and len(val) == 8
    for df in (train, val):
        assert set(df.columns) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        row = df.iloc[0]
        assert row["data_source"] == T.DATA_SOURCE
        assert list(row["prompt"][0].keys()) == ["role", "content"] and row["prompt"][0]["role"] == "user"
        d = row["reward_model"]["ground_truth"]
        assert row["prompt"][0]["content"] == T.prompt_text(int(d))
        assert row["reward_model"]["style"] == "rule"
    assert list(train["extra_info"].map(lambda e: e["index"])) == list(range(40))
    # validation is balanced over the k digits, training draws from all of them
    assert sorted(val["reward_model"].map(lambda r: r["ground_truth"])) == sorted([str(i % 4) for i in range(8)])
    assert set(train["reward_model"].map(lambda r: r["ground_truth"])) == {"0", "1", "2", "3"}
    # deterministic
    again = T.build_parquet(str(tmp_path / "again"), k=4, n_train=40, n_val=8, seed=0)
    assert pd.read_parquet(again["train"]).equals(train)


def test_parquet_loads_through_verl_rl_dataset(tmp_path):
    """verl's own RLHFDataset reads the rows with the tiny model's tokenizer and chat template."""
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from nft.local.tiny_model import build_tiny_model

    model = build_tiny_model(str(tmp_path / "m"))
    paths = T.build_parquet(str(tmp_path / "d"), k=4, n_train=8, n_val=4)
    tok = AutoTokenizer.from_pretrained(model)
    cfg = OmegaConf.create({"max_prompt_length": 32, "prompt_key": "prompt", "truncation": "error",
                            "filter_overlong_prompts": False, "return_raw_chat": True})
    ds = RLHFDataset(data_files=paths["val"], tokenizer=tok, config=cfg)
    assert len(ds) == 4
    item = ds[1]
    assert item["raw_prompt"][0]["content"] == T.prompt_text(1)


@pytest.mark.parametrize("kw, msg", [({"k": 1}, "k=1"), ({"k": 11}, "k=11"), ({"n_train": 0}, "n=0")])
def test_bad_arguments(tmp_path, kw, msg):
    args = {"k": 4, "n_train": 4, "n_val": 4, **kw}
    with pytest.raises(ValueError, match=msg):
        T.build_parquet(str(tmp_path), **args)


def test_warm_start_stops_at_target(tmp_path):
    from nft.local.tiny_model import build_tiny_model

    d = build_tiny_model(str(tmp_path / "m"), seed=0)
    info = T.warm_start(d, k=4, target=0.3, seed=0)
    assert info["p_correct"] >= 0.3 and 1 <= info["warm_start_steps"] <= 200
    # It stopped at the first step over the target: a weak policy, not a solved task.
    assert info["p_correct"] < 0.6
    rep = T.warmup_report(d, k=4, samples=64, seed=0)
    assert 0.1 < rep["sampled_acc"] < 0.8
    with pytest.raises(ValueError, match="target"):
        T.warm_start(d, target=1.5)
