"""PRESET=paper|authors in every training script: the authors' values, their sources, the dry-run table."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from test_recipes import DRY_OK, _args, _compose_checked, _run

PL = "actor_rollout_ref.actor.policy_loss."


@pytest.mark.parametrize("script", ["train_7B.sh", "train_32B.sh", "recipes/train_32B_megatron.sh"])
def test_paper_is_the_default_and_unchanged(tmp_path, script):
    default = _args(script, tmp_path)
    assert _args(script, tmp_path, PRESET="paper") == default
    assert not any("aggregation" in a or "grader" in a for a in default)


@pytest.mark.parametrize(
    "script,dp,val_temp_paper",
    [("train_7B.sh", 32, 1.0), ("train_32B.sh", 16, 0.6), ("recipes/train_32B_megatron.sh", 16, 0.6)],
)
def test_authors_preset_values(compose_nft, tmp_path, script, dp, val_temp_paper):
    paper = _compose_checked(compose_nft, _args(script, tmp_path))
    cfg = _compose_checked(compose_nft, _args(script, tmp_path, PRESET="authors"))
    pl = cfg.actor_rollout_ref.actor.policy_loss
    assert (pl.aggregation, pl.authors_dp_size) == ("authors", dp)
    assert cfg.reward.custom_reward_function.reward_kwargs.grader == "authors"
    assert cfg.trainer.val_before_train is False and cfg.trainer.test_freq == 2
    vk = cfg.actor_rollout_ref.rollout.val_kwargs
    assert (vk.temperature, vk.top_p, vk.n, vk.do_sample) == (0.6, 0.7, 1, True)
    # their trainer builds both datasets with truncation='error' whatever the script says
    assert cfg.data.truncation == paper.data.truncation == "error"
    # their naive reward manager grades a cut-off answer's text; ours scores it -1 unless told otherwise
    assert cfg.reward.custom_reward_function.reward_kwargs.truncated_is_negative is False
    assert "truncated_is_negative" not in paper.reward.custom_reward_function.get("reward_kwargs", {})
    assert paper.actor_rollout_ref.rollout.val_kwargs.temperature == val_temp_paper
    assert (paper.trainer.test_freq, paper.trainer.val_before_train, paper.data.truncation) == (10, True, "error")
    assert paper.actor_rollout_ref.actor.policy_loss.aggregation == "verl"
    assert cfg.trainer.experiment_name.endswith("-authors")
    # everything else is the paper's
    for key in ("data.train_batch_size", "actor_rollout_ref.rollout.n", "actor_rollout_ref.actor.optim.lr",
                "data.max_response_length", "algorithm.filter_groups.max_num_gen_batches"):
        assert OmegaConf.select(cfg, key) == OmegaConf.select(paper, key), key


def test_environment_knobs_and_overrides_win_over_the_preset(compose_nft, tmp_path):
    cfg = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, "actor_rollout_ref.actor.policy_loss.authors_dp_size=8",
                                              "trainer.test_freq=5", "actor_rollout_ref.rollout.val_kwargs.temperature=1.0",
                                              PRESET="authors"))
    assert cfg.trainer.test_freq == 5 and cfg.actor_rollout_ref.rollout.val_kwargs.temperature == 1.0
    assert cfg.actor_rollout_ref.actor.policy_loss.authors_dp_size == 8


@pytest.mark.parametrize(
    "env,normalize",
    [({}, 0), ({"PRESET": "authors"}, 1), ({"PRESET": "authors", "NORMALIZE": "0"}, 0), ({"NORMALIZE": "1"}, 1)],
    ids=["paper", "authors", "authors-norm0", "paper-norm1"],
)
def test_rft_prompt_weight_is_one_flag(compose_nft, tmp_path, env, normalize):
    cfg = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, ALGO="rft", **env))
    pl = cfg.actor_rollout_ref.actor.policy_loss
    assert (pl.neg_weight, pl.normalize) == (0.0, normalize)


def test_authors_dapo_32B_has_their_overlong_penalty(compose_nft, tmp_path):
    paper = _compose_checked(compose_nft, _args("train_32B.sh", tmp_path, ALGO="dapo"))
    cfg = _compose_checked(compose_nft, _args("train_32B.sh", tmp_path, ALGO="dapo", PRESET="authors"))
    assert (cfg.reward.reward_manager.source, cfg.reward.reward_manager.name) == ("register", "dapo")
    ob = cfg.reward.reward_kwargs.overlong_buffer_cfg
    assert (ob.enable, ob.len, ob.penalty_factor) == (True, 4096, 1.0)
    assert cfg.reward.reward_kwargs.max_resp_len == cfg.data.max_response_length == 14336
    seven = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, ALGO="dapo", PRESET="authors"))
    assert seven.reward.reward_manager == paper.reward.reward_manager and "reward_kwargs" not in seven.reward
    # NFT never gets the overlong penalty (non-binary rewards): the 32B NFT preset leaves the manager alone
    nft = _compose_checked(compose_nft, _args("train_32B.sh", tmp_path, PRESET="authors"))
    assert nft.reward.reward_manager == paper.reward.reward_manager


def test_unknown_preset_is_refused(tmp_path):
    r = _run("train_7B.sh", tmp_path, PRINT_ARGS=1, PRESET="author")
    assert r.returncode == 2 and "PRESET=author is not one of paper, authors" in r.stderr


@pytest.mark.parametrize(
    "script,rows",
    [
        ("train_7B.sh", [
            "| actor_rollout_ref.actor.policy_loss.authors_dp_size | 0 (unused) | 32 | README.md:103 (4x8 GPUs), "
            "train_7B.sh:61 (sp_size), fsdp_workers.py:108-109 (dp = world / sp) |",
            "| actor_rollout_ref.rollout.val_kwargs.temperature | 1.0 | 0.6 | train_7B.sh:123 |",
            "| trainer.test_freq | 10 | 2 | train_7B.sh:138 |",
            "| trainer.val_before_train | true | false | train_7B.sh:137 |",
            "| data.truncation | error | error (same: their script's left is not used) | "
            "train_7B.sh:73, ray_nft_trainer.py:514,539 (truncation='error') |",
            "| +reward.custom_reward_function.reward_kwargs.truncated_is_negative | (unset: true, an answer cut at "
            "max_response_length scores -1) | false (the cut text is graded) | main_nft.py:166-169 (verl's naive "
            "reward manager, no truncation flag) |",
            "| ALGO=rft: actor_rollout_ref.actor.policy_loss.normalize | 0 (weight 1) | 1 (weight 1 - r) | "
            "train_7B.sh:52,58 |",
        ]),
        ("train_32B.sh", [
            "| actor_rollout_ref.actor.policy_loss.authors_dp_size | 0 (unused) | 16 | README.md:103 (16x8 GPUs), "
            "train_32B.sh:68 (sp_size), fsdp_workers.py:108-109 (dp = world / sp) |",
            "| actor_rollout_ref.rollout.val_kwargs.temperature | 0.6 | 0.6 | train_32B.sh:130 |",
            "| ALGO=dapo: reward.reward_manager + reward_kwargs.overlong_buffer_cfg | the yaml's, none | verl's dapo, "
            "enable len=4096 penalty=1.0, max_resp_len=$MAX_RESPONSE_LEN | train_32B.sh:53-58 |",
        ]),
    ],
    ids=["7B", "32B"],
)
def test_dry_run_prints_the_table_with_sources(tmp_path, script, rows):
    r = _run(script, tmp_path, DRY_RUN=1, PRESET="authors", timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert DRY_OK in r.stdout
    assert "PRESET=authors (paper | authors; the authors' values from github.com/NVlabs/NFT @ b358fae)" in r.stdout
    for row in rows:
        assert row in r.stdout, row
    assert "| actor_rollout_ref.actor.policy_loss.aggregation | verl (actor.loss_agg_mode=token-mean) | authors " in r.stdout
    assert "validation: every 2 steps, before training False, temperature 0.6 top_p 0.7 n 1" in r.stdout
    assert "reward: pkg://nft.reward grader=authors truncated_is_negative=False manager=" in r.stdout
    assert "aggregation=authors (token sum / 1000.0 / DP size" in r.stdout


def _lora_checked(compose_nft, args):
    # nft's checks only: verl's validate_config imports vLLM to check the LoRA rank (utils/config.py),
    # which a CPU test machine need not have
    from nft.checks import problems

    cfg = compose_nft(args)
    assert problems(cfg, check_paths=False) == []
    return cfg


def test_lora_variant(compose_nft, tmp_path):
    _compose_checked = _lora_checked  # noqa: N806
    full = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path))
    assert full.actor_rollout_ref.model.lora_rank == 0 and full.actor_rollout_ref.actor.optim.lr == 1e-6
    cfg = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, LORA_RANK="64"))
    m = cfg.actor_rollout_ref.model
    assert (m.lora_rank, m.lora_alpha, m.target_modules) == (64, 128, "all-linear")
    assert cfg.actor_rollout_ref.actor.optim.lr == 1e-5
    assert cfg.trainer.experiment_name.endswith("-lora64")
    cfg = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, "actor_rollout_ref.actor.optim.lr=3e-6",
                                              LORA_RANK="16", LORA_ALPHA="16", LORA_TARGETS="[q_proj,v_proj]"))
    m = cfg.actor_rollout_ref.model
    assert (m.lora_rank, m.lora_alpha, list(m.target_modules)) == (16, 16, ["q_proj", "v_proj"])
    assert cfg.actor_rollout_ref.actor.optim.lr == 3e-6
    for env, msg in (({"LORA_RANK": "x"}, "LORA_RANK=x must be a non-negative integer"),):
        r = _run("train_7B.sh", tmp_path, PRINT_ARGS=1, **env)
        assert r.returncode == 2 and msg in r.stderr
    r = _run("recipes/train_32B_megatron.sh", tmp_path, PRINT_ARGS=1, LORA_RANK="8")
    assert r.returncode == 2 and "LORA_RANK applies to the FSDP scripts" in r.stderr
