"""Training scripts: every script's DRY_RUN on CPU (subprocess), baselines and errors through the
scripts' nft.main arguments (PRINT_ARGS=1) composed in-process, the recipes as Hydra config groups without
bash (`python -m nft.main model=... algo=... preset=...`), Ray launch helpers."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DRY_OK = "DRY_RUN: config composed and validated; Ray not started."
KNOB_VARS = ("ALGO", "NEG_WEIGHT", "NORMALIZE", "NNODES", "GPUS_PER_NODE", "MODEL_PATH", "DATA_DIR", "TRAIN_FILE",
             "VAL_FILES", "LOGGER", "SUBMIT", "DRY_RUN", "PRINT_ARGS", "RAY_ADDRESS", "EXP_NAME", "CKPT_DIR", "PROJECT",
             "PRESET", "LORA_RANK", "LORA_ALPHA", "LORA_TARGETS", "BYPASS", "TRAINER_MODE", "NFT_DATA_DIR")


def _env(**kw) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in KNOB_VARS}
    env["PYTHON"] = sys.executable
    env.update({k: str(v) for k, v in kw.items()})
    return env


def _run(script: str, cwd, *args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / script), *args], env=_env(**kw), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------------------- real dry runs
@pytest.mark.parametrize(
    "script,env,expect",
    [
        ("train_7B.sh", {}, [
            "algorithm: adv_estimator=nft loss_mode=nft neg_weight=1.0 normalize=1 loss_agg_mode=token-mean",
            "GPUs: 8 (1 nodes x 8), actor fsdp dp=8 sp=1 tp=1 pp=1 cp=1, rollout vllm tp=4",
            "batch: 512 prompts x 16 answers = 8192 sequences/step; mini-batch 32 x 16 = 512 -> 16 updates/step, "
            "64 sequences per DP rank",
            "lengths: prompt 512 + response 3584",
            "dynamic sampling: filter_groups=True metric=acc cap=15360 prompts/step",
        ]),
        ("train_32B.sh", {}, [
            "GPUs: 32 (4 nodes x 8), actor fsdp dp=4 sp=8 tp=1 pp=1 cp=1, rollout vllm tp=4",
            "lengths: prompt 2048 + response 14336",
        ]),
        ("recipes/train_32B_megatron.sh", {}, [
            "GPUs: 32 (4 nodes x 8), actor megatron dp=2 sp=1 tp=8 pp=2 cp=1, rollout vllm tp=4",
            "256 sequences per DP rank",
        ]),
        # the DAPO baseline submitted to a 4-node Ray cluster: the dry run validates locally, submits nothing
        ("train_7B.sh", {"NEG_WEIGHT": "-1", "SUBMIT": "1", "NNODES": "4", "LOGGER": "wandb"}, [
            "algorithm: adv_estimator=grpo loss_mode=vanilla loss_agg_mode=token-mean",
            "GPUs: 32 (4 nodes x 8)",
        ]),
    ],
    ids=["7B", "32B", "32B-megatron", "7B-dapo-submit"],
)
def test_script_dry_run(tmp_path, script, env, expect):
    r = _run(script, tmp_path, "trainer.save_freq=7", DRY_RUN=1, **env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert DRY_OK in r.stdout
    for line in expect:
        assert line in r.stdout
    assert "ray init kwargs" not in r.stdout  # verl prints this right before ray.init
    # the resolved config is printed; the pass-through override wins
    assert "  save_freq: 7\n" in r.stdout
    assert f"path: {tmp_path}/models/Qwen2.5" in r.stdout
    assert f"- {tmp_path}/data/math500_boxed.parquet" in r.stdout
    if env.get("SUBMIT"):
        line = next(x for x in r.stdout.splitlines() if x.startswith("DRY_RUN: would submit: ray job submit"))
        runtime_env = json.loads(line.split("--runtime-env-json ", 1)[1].split(" -- ", 1)[0])
        assert runtime_env["env_vars"]["VERL_USE_EXTERNAL_MODULES"] == "nft.register"
        assert runtime_env["py_modules"] == [str(REPO / "nft")]
        assert "  - console\n  - wandb\n" in r.stdout
        assert "WANDB_API_KEY" not in line or os.environ.get("WANDB_API_KEY")


# ---------------------------------------------------------------------------------------- override lists
def _args(script: str, cwd, *extra, **env) -> list[str]:
    r = _run(script, cwd, *extra, PRINT_ARGS=1, **env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _compose_checked(compose_nft, args):
    from nft.checks import check

    cfg = compose_nft(args)
    check(cfg, check_paths=False)
    return cfg


@pytest.mark.parametrize(
    "env,expect",
    [
        ({}, dict(est="nft", loss="nft", nw=1.0, norm=1, agg="token-mean")),
        ({"NEG_WEIGHT": "0.5", "NORMALIZE": "2"}, dict(est="nft", loss="nft", nw=0.5, norm=2, agg="token-mean")),
        ({"ALGO": "rft"}, dict(est="nft", loss="nft", nw=0.0, norm=0, agg="token-mean")),
        ({"NEG_WEIGHT": "-1"}, dict(est="grpo", loss="vanilla", std=True, clip=(0.2, 0.28), agg="token-mean")),
        ({"ALGO": "dapo"}, dict(est="grpo", loss="vanilla", std=True, clip=(0.2, 0.28), agg="token-mean")),
        ({"ALGO": "grpo"}, dict(est="grpo", loss="vanilla", std=True, clip=(0.2, 0.2), agg="seq-mean-token-mean")),
        ({"ALGO": "drgrpo"},
         dict(est="grpo", loss="vanilla", std=False, clip=(0.2, 0.2), agg="seq-mean-token-sum-norm")),
    ],
    ids=["nft", "nft-knobs", "rft", "neg-1-dapo", "dapo", "grpo", "drgrpo"],
)
def test_algorithms_compose_and_validate(compose_nft, tmp_path, env, expect):
    cfg = _compose_checked(compose_nft, _args("train_7B.sh", tmp_path, **env))
    actor = cfg.actor_rollout_ref.actor
    assert cfg.algorithm.adv_estimator == expect["est"]
    assert actor.policy_loss.loss_mode == expect["loss"]
    assert actor.loss_agg_mode == expect["agg"]
    if "nw" in expect:
        assert actor.policy_loss.neg_weight == expect["nw"] and actor.policy_loss.normalize == expect["norm"]
    else:
        assert cfg.algorithm.norm_adv_by_std_in_grpo == expect["std"]
        assert (actor.clip_ratio_low, actor.clip_ratio_high) == expect["clip"]
    # paper settings common to every algorithm
    assert cfg.data.train_batch_size == 512 and cfg.actor_rollout_ref.rollout.n == 16
    assert actor.ppo_mini_batch_size == 32 and actor.optim.lr == 1e-6 and actor.optim.lr_warmup_steps == 10
    assert actor.optim.weight_decay == 0.1 and actor.use_kl_loss is False and actor.entropy_coeff == 0
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.algorithm.filter_groups.enable is True and cfg.algorithm.filter_groups.metric == "acc"
    assert cfg.algorithm.filter_groups.max_num_gen_batches == 10
    assert cfg.actor_rollout_ref.rollout.tensor_model_parallel_size == 4
    assert cfg.actor_rollout_ref.rollout.gpu_memory_utilization == 0.7
    assert cfg.actor_rollout_ref.rollout.val_kwargs.top_p == 0.7
    assert list(cfg.trainer.logger) == ["console"]


def test_32B_settings(compose_nft, tmp_path):
    cfg = _compose_checked(compose_nft, _args("train_32B.sh", tmp_path))
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (2048, 14336)
    assert cfg.actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size == 8
    assert cfg.actor_rollout_ref.rollout.val_kwargs.temperature == 0.6
    assert cfg.actor_rollout_ref.actor.fsdp_config.param_offload is True


@pytest.mark.parametrize(
    "script,overrides,message",
    [
        ("train_7B.sh", ["actor_rollout_ref.rollout.tensor_model_parallel_size=3"],
         "actor_rollout_ref.rollout.tensor_model_parallel_size (3) must divide trainer.n_gpus_per_node (8)"),
        ("train_7B.sh", ["trainer.n_gpus_per_node=6", "actor_rollout_ref.rollout.tensor_model_parallel_size=2"],
         "a mini-batch of 32 prompts x 16 answers = 512 sequences does not split over 6 data-parallel ranks"),
        ("train_7B.sh", ["actor_rollout_ref.actor.ppo_mini_batch_size=48"],
         "data.train_batch_size (512) must be a multiple of actor_rollout_ref.actor.ppo_mini_batch_size (48)"),
        ("train_7B.sh", ["actor_rollout_ref.actor.ppo_max_token_len_per_gpu=3000"],
         "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=3000 (x SP 1) < max_prompt_length + "
         "max_response_length = 512 + 3584 = 4096"),
        # the token budgets are the model's literal numbers: a longer response says what to raise
        ("train_7B.sh", ["data.max_response_length=8192"],
         "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8192 (x SP 1) < max_prompt_length + max_response_length "
         "= 512 + 8192 = 8704: one full-length sequence must fit; set it to at least 8704"),
        ("train_7B.sh", ["actor_rollout_ref.rollout.n=1"], "actor_rollout_ref.rollout.n=1: nft needs >= 2 answers per prompt"),
        ("train_32B.sh", ["actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size=3"],
         "Ulysses SP size 3 must divide trainer.n_gpus_per_node (8)"),
        ("recipes/train_32B_megatron.sh", ["actor_rollout_ref.actor.megatron.tensor_model_parallel_size=16",
                                           "actor_rollout_ref.actor.megatron.pipeline_model_parallel_size=1"],
         "actor_rollout_ref.actor.megatron.tensor_model_parallel_size (16) must divide trainer.n_gpus_per_node (8)"),
    ],
    ids=["rollout-tp", "dp-split", "mini-batch", "token-budget", "longer-response", "n", "sp", "megatron-tp"],
)
def test_arithmetic_errors(compose_nft, tmp_path, script, overrides, message):
    from nft.checks import ConfigError, check

    cfg = compose_nft(_args(script, tmp_path, *overrides))
    with pytest.raises(ConfigError) as e:
        check(cfg, check_paths=False)
    assert message in str(e.value)


def test_async_mode_with_generation_cap_is_refused(compose_nft, tmp_path):
    from nft.checks import check

    # bypass mode corrects the staleness (nft.checks.off_policy), so only the cap is wrong here
    cfg = compose_nft(_args("train_7B.sh", tmp_path, "trainer.v1.trainer_mode=colocate_async",
                            "algorithm.rollout_correction.bypass_mode=true"))
    with pytest.raises(ValueError, match=r"max_num_gen_batches=10 is enforced only with trainer.v1.trainer_mode=sync"):
        check(cfg, check_paths=False)


def test_missing_paths_fail_before_ray(compose_nft, tmp_path, monkeypatch):
    from nft.checks import paths
    from nft.main import absolute_paths

    monkeypatch.chdir(tmp_path)
    cfg = compose_nft(_args("train_7B.sh", tmp_path))
    absolute_paths(cfg)
    problems = paths(cfg)
    assert f"actor_rollout_ref.model.path={tmp_path}/models/Qwen2.5-Math-7B does not exist: run " \
           "download_model.sh or set MODEL_PATH" in problems
    assert f"data.train_files: {tmp_path}/data/dapo-math-17k_10boxed.parquet not found: run download_data.sh " \
           "or set DATA_DIR / TRAIN_FILE / VAL_FILES" in problems
    assert sum("data.val_files" in p for p in problems) == 6


def test_python_m_nft_main_without_bash(tmp_path):
    """The config groups compose without the scripts: model x algo x preset on nft.main's command line."""
    env = _env(DRY_RUN=1)
    r = subprocess.run([sys.executable, "-m", "nft.main", "model=qwen2.5-32b", "algo=rft", "preset=authors"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert DRY_OK in r.stdout
    assert "algorithm: adv_estimator=nft loss_mode=nft neg_weight=0.0 normalize=1 loss_agg_mode=token-mean " \
           "aggregation=authors (token sum / 1000.0 / DP size 16)" in r.stdout
    assert "lengths: prompt 2048 + response 14336" in r.stdout
    assert f"path: {tmp_path}/models/Qwen2.5-32B" in r.stdout and f"- {tmp_path}/data/math500_boxed.parquet" in r.stdout


def test_removed_environment_knobs_name_their_hydra_key(tmp_path):
    r = _run("train_7B.sh", tmp_path, PRINT_ARGS=1, SP="4")
    assert r.returncode == 2
    assert "SP=4 is no longer read: pass the Hydra override actor_rollout_ref.actor.fsdp_config." \
           "ulysses_sequence_parallel_size=4 instead" in r.stderr


@pytest.mark.parametrize(
    "env,message",
    [
        ({"NEG_WEIGHT": "-1", "ALGO": "grpo"}, "NEG_WEIGHT=-1 means the DAPO baseline but ALGO=grpo"),
        ({"ALGO": "ppo"}, "ALGO=ppo is not one of nft, rft, dapo, grpo, drgrpo"),
        ({"ALGO": "rft", "NEG_WEIGHT": "0.5"}, "ALGO=rft means neg_weight=0; got NEG_WEIGHT=0.5"),
        ({"ALGO": "dapo", "NEG_WEIGHT": "0.5"}, "NEG_WEIGHT=0.5 applies to ALGO=nft only (ALGO=dapo)"),
        ({"PRESET": "x"}, "PRESET=x is not one of paper, authors"),
        ({"ALGO": "drgrpo", "NORMALIZE": "2"}, "NORMALIZE=2 applies to ALGO=nft/rft only"),
        ({"LOGGER": "wandb,foo"}, "unknown logger 'foo'"),
        ({"NNODES": "0"}, "NNODES=0 must be a positive integer"),
    ],
)
def test_knob_errors(tmp_path, env, message):
    r = _run("train_7B.sh", tmp_path, PRINT_ARGS=1, **env)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and message in r.stderr


def test_logger_and_paths(tmp_path):
    args = _args("train_7B.sh", tmp_path, "trainer.total_training_steps=5", LOGGER="tensorboard,wandb",
                 VAL_FILES="d/a.parquet, /abs/b.parquet", NNODES=2)
    assert "trainer.logger=[console,tensorboard,wandb]" in args
    assert "data.val_files=['d/a.parquet','/abs/b.parquet']" in args  # nft.main makes them absolute
    assert "trainer.nnodes=2" in args
    assert args[:3] == ["model=qwen2.5-math-7b", "algo=nft", "preset=paper"]
    # DATA_DIR reaches preset/paper.yaml's file names through NFT_DATA_DIR (absolute)
    r = _run("train_7B.sh", tmp_path, DRY_RUN=1, DATA_DIR="d", PYTHON=str(REPO / "tests" / "argv_python.sh"),
             NFT_REAL_PYTHON=sys.executable)
    assert f"NFT_DATA_DIR={tmp_path}/d\n" in r.stdout
    assert args[-1] == "trainer.total_training_steps=5"  # pass-through overrides come last and win
    assert "trainer.experiment_name=qwen2.5-math-7b-nft-nw1-norm1" in args


def test_run_baselines_covers_all_algorithms(tmp_path):
    r = _run("recipes/run_baselines.sh", tmp_path, PRINT_ARGS=1, SIZE="32B")
    assert r.returncode == 0, r.stderr
    sections = r.stdout.split("=== ")[1:]
    assert [s.splitlines()[0] for s in sections] == [f"32B {a}" for a in ("nft", "rft", "dapo", "grpo", "drgrpo")]
    for section, algo in zip(sections, ("nft", "rft", "dapo", "grpo", "drgrpo"), strict=True):
        assert f"algo={algo}" in section.splitlines() and "model=qwen2.5-32b" in section.splitlines()


def test_ray_cluster_commands(tmp_path):
    env = _env(RAY="echo", GPUS_PER_NODE="8")
    head = subprocess.run(["bash", str(REPO / "recipes/ray_cluster.sh"), "head"], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert head.returncode == 0
    assert head.stdout.splitlines()[0] == "start --head --port 6379 --dashboard-host 0.0.0.0 --dashboard-port 8265 " \
                                          "--num-gpus 8"
    worker = subprocess.run(["bash", str(REPO / "recipes/ray_cluster.sh"), "worker"], env=dict(env, HEAD_IP="10.0.0.1"),
                            capture_output=True, text=True, timeout=30, check=False)
    assert worker.stdout.strip() == "start --address 10.0.0.1:6379 --num-gpus 8"
    bad = subprocess.run(["bash", str(REPO / "recipes/ray_cluster.sh"), "worker"], env=env, capture_output=True,
                         text=True, timeout=30, check=False)
    assert bad.returncode == 2 and "set HEAD_IP" in bad.stderr
    # the plugin module is exported to every Ray process started by `ray start` on the node
    fake = tmp_path / "ray"
    fake.write_text("#!/bin/sh\nprintenv VERL_USE_EXTERNAL_MODULES\n")
    fake.chmod(0o755)
    probe = subprocess.run(["bash", str(REPO / "recipes/ray_cluster.sh"), "status"], env=dict(env, RAY=str(fake)),
                           capture_output=True, text=True, timeout=30, check=False)
    assert probe.stdout.strip() == "nft.register"


def test_scripts_use_python_knob_and_no_secrets():
    mine = ["launch.sh", "ray_cluster.sh", "run_baselines.sh", "train_32B_megatron.sh"]
    for p in [REPO / "train_7B.sh", REPO / "train_32B.sh", REPO / "download_data.sh", REPO / "download_model.sh",
              *(REPO / "recipes" / n for n in mine)]:
        text = p.read_text()
        assert "/work/" not in text, p
        assert not re.search(r"(WANDB_API_KEY|HF_TOKEN)=\S", text), p
        assert not re.search(r"hf_[A-Za-z0-9]{30,}", text), p
        if "python" in text and p.name != "ray_cluster.sh":
            assert "${PYTHON:-python3}" in text or "nft_launch" in text or "run_baselines" in p.name, p
