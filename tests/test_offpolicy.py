"""Off-policy NFT: start-up rules for bypass / async modes / rollout correction (nft.checks, and the CPU
platform's checkpoint engine in nft.local.plugin), rollout_is and rollout_rs through verl's real
rollout-correction helper + the NFT estimator + the NFT loss, and the off-policy loss metrics."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from verl import DataProto
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch

import nft.register  # noqa: F401
from nft.checks import batch_layout, problems
from nft.config import NFTPolicyLossConfig
from nft.local import tcp_checkpoint_engine
from nft.local.plugin import TCP_BACKEND, TCP_MODULE  # also registers the CPU platform's start-up checks
from nft.objective import nft_loss_matrix
from nft.trainer import group_accuracy


def config_problems(cfg):
    return problems(cfg, check_paths=False)


REPO = __import__("pathlib").Path(__file__).resolve().parents[1]

RC = "algorithm.rollout_correction."
LOGP = "actor_rollout_ref.rollout.calculate_log_probs=true"
BYPASS = [RC + "bypass_mode=true", LOGP]
CE = "actor_rollout_ref.rollout.checkpoint_engine."
SEPARATE = BYPASS + ["trainer.v1.trainer_mode=separate_async", "actor_rollout_ref.rollout.nnodes=1",
                     "data.train_batch_size=16", "actor_rollout_ref.actor.ppo_mini_batch_size=16",
                     "trainer.v1.separate_async.parameter_sync_step=1"]


# ------------------------------------------------------------------------------------------ start-up rules
NO_CAP = "algorithm.filter_groups.max_num_gen_batches=0"  # the generation cap is enforced in sync mode only
ALLOWED = [
    BYPASS,  # bypass on the v1 sync trainer keeps loss_mode=nft
    BYPASS + ["trainer.v1.trainer_mode=colocate_async", NO_CAP],
    BYPASS + [NO_CAP, "trainer.v1.trainer_mode=separate_async", "data.train_batch_size=64",
              "actor_rollout_ref.actor.ppo_mini_batch_size=16", "trainer.v1.separate_async.parameter_sync_step=4",
              "actor_rollout_ref.rollout.nnodes=1", "actor_rollout_ref.rollout.checkpoint_engine.backend=nccl"],
    # the CPU loop's separate_async (recipes/quickstart_cpu.sh): the nft_tcp checkpoint engine
    SEPARATE + [NO_CAP, "trainer.device=cpu", CE + "backend=nft_tcp", CE + "custom_backend_module=nft.local.tcp_checkpoint_engine"],
    [LOGP, RC + "rollout_is=token", "trainer.v1.trainer_mode=colocate_async", NO_CAP],  # decoupled + IS
    [LOGP, RC + "rollout_is=sequence", RC + "rollout_is_threshold=2.0"],
    [LOGP, RC + "rollout_is=token", RC + "rollout_is_threshold=0.5_5.0"],  # IcePop bounds
    [LOGP, RC + "rollout_rs=seq_sum_k1", RC + "rollout_rs_threshold=0.5_2.0"],
    BYPASS + ["actor_rollout_ref.rollout.logprobs_mode=raw_logprobs"],  # taken before temperature: equal at T = 1
    BYPASS + ["actor_rollout_ref.rollout.top_k=0", "actor_rollout_ref.rollout.temperature=0.6"],  # 0 and -1: off
    ["actor_rollout_ref.rollout.top_p=0.7"],  # no bypass, no correction: the actor recomputes the old log-probs
]


@pytest.mark.parametrize("overrides", ALLOWED, ids=lambda o: " ".join(x.split(".")[-1] for x in o))
def test_offpolicy_configs_that_keep_the_nft_loss_pass(compose_nft, overrides, monkeypatch):
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    assert config_problems(compose_nft(overrides)) == []


REFUSED = [
    # legacy trainer: apply_bypass_mode rewrites loss_mode
    (BYPASS + ["trainer.use_v1=false"], ["trainer.use_v1=False", "replaces the NFT loss", "keep trainer.use_v1=True"]),
    # bypass needs rollout log-probs
    ([RC + "bypass_mode=true", "actor_rollout_ref.rollout.calculate_log_probs=false"],
     ["bypass_mode=True", "calculate_log_probs=True"]),
    ([RC + "rollout_is=token", "actor_rollout_ref.rollout.calculate_log_probs=false"],
     ["rollout_is", "calculate_log_probs=True"]),
    # rollout correction is skipped by verl in bypass mode
    (BYPASS + [RC + "rollout_is=token"], ["rollout_is=token", "would be ignored", "rollout_is=null"]),
    (BYPASS + [RC + "rollout_rs=seq_sum_k1", RC + "rollout_rs_threshold=0.5_2.0"],
     ["rollout_rs=seq_sum_k1", "rollout_rs=null"]),
    (BYPASS + [RC + "loss_type=reinforce"], ["loss_type='reinforce'", "remove the override"]),
    # staleness without a correction
    (["trainer.v1.trainer_mode=colocate_async"], ["colocate_async", "bypass_mode=True", "rollout_is=token|sequence"]),
    (["trainer.v1.trainer_mode=separate_async"], ["separate_async", "never corrected"]),
    # verl's separate_async asserts, caught before Ray starts
    (BYPASS + ["trainer.v1.trainer_mode=separate_async", "data.train_batch_size=128",
               "actor_rollout_ref.actor.ppo_mini_batch_size=16"],
     ["trainer.v1.separate_async.parameter_sync_step=8", "actor_rollout_ref.rollout.nnodes >= 1",
      "checkpoint_engine.backend to one for your devices (nccl"]),
    (SEPARATE + ["trainer.device=cpu"], [CE + "backend=nft_tcp", CE + "custom_backend_module=nft.local."
                                          "tcp_checkpoint_engine", "refuses the 'naive'"]),
    (SEPARATE + ["trainer.device=cpu", CE + "backend=nft_tcp"],
     ["registered by nft.local.tcp_checkpoint_engine", "custom_backend_module=nft.local.tcp_checkpoint_engine"]),
    (SEPARATE + ["trainer.device=cuda", CE + "backend=nft_tcp",
                 CE + "custom_backend_module=nft.local.tcp_checkpoint_engine"],
     ["CPU platform's engine", "trainer.device=cuda", CE + "backend=nccl"]),
    (SEPARATE + [CE + "backend=nccl", "actor_rollout_ref.hybrid_engine=false"],
     ["hybrid_engine=False", "flush=True", "keep actor_rollout_ref.hybrid_engine=True"]),
    (["trainer.v1.trainer_mode=fully_async"], ["trainer.v1.trainer_mode='fully_async'", "colocate_async"]),
    # rollout log-probs that are not the actor's full softmax at its temperature (vLLM 0.28's sampler)
    (BYPASS + ["actor_rollout_ref.rollout.top_p=0.7"], ["bypass_mode=True needs the rollout's log-probs of the full softmax", "actor_rollout_ref.rollout.top_p=0.7",
                                  "actor_rollout_ref.rollout.top_p=1.0"]),
    (BYPASS + ["actor_rollout_ref.rollout.top_k=50"], ["actor_rollout_ref.rollout.top_k=50", "actor_rollout_ref.rollout.top_k=-1"]),
    (BYPASS + ["actor_rollout_ref.rollout.logprobs_mode=raw_logits"], ["returns logits, not log-probs", "logprobs_mode=processed_logprobs"]),
    (BYPASS + ["actor_rollout_ref.rollout.logprobs_mode=processed_logits"], ["returns logits, not log-probs"]),
    (BYPASS + ["actor_rollout_ref.rollout.logprobs_mode=raw_logprobs", "actor_rollout_ref.rollout.temperature=0.6"], ["raw_logprobs is taken before temperature"]),
    (BYPASS + ["actor_rollout_ref.rollout.temperature=0"], ["actor_rollout_ref.rollout.temperature=0 is greedy"]),
    (BYPASS + ["+actor_rollout_ref.rollout.repetition_penalty=1.1"], ["actor_rollout_ref.rollout.repetition_penalty=1.1", "actor_rollout_ref.rollout.repetition_penalty=1.0"]),
    ([LOGP, RC + "rollout_is=token", RC + "rollout_is_threshold=2.0", "actor_rollout_ref.rollout.top_p=0.9"],
     ["rollout correction needs the rollout's log-probs of the full softmax", "actor_rollout_ref.rollout.top_p=0.9"]),
    # rollout_is without a threshold computes no weights (rollout_corr_helper.py): not a correction
    ([LOGP, RC + "rollout_is=token", RC + "rollout_is_threshold=null"], ["rollout_is_threshold=null", "nothing would be corrected"]),
    ([LOGP, RC + "rollout_is=token", RC + "rollout_is_threshold=null", "trainer.v1.trainer_mode=colocate_async", NO_CAP],
     ["nothing would be corrected", "colocate_async trains on answers sampled by older weights"]),
    ([LOGP, RC + "rollout_rs=seq_sum_k1"], ["rollout_rs=seq_sum_k1 needs", "rollout_rs_threshold"]),
    # the fully-async experimental config
    (["+async_training.staleness_threshold=0.1"], ["async_training", "python -m nft.main",
                                                    "trainer.v1.trainer_mode=separate_async"]),
]


@pytest.mark.parametrize("overrides,needles", REFUSED, ids=lambda o: str(o)[:60])
def test_offpolicy_refusals_say_what_to_change(compose_nft, overrides, needles, monkeypatch):
    monkeypatch.delenv("VERL_USE_EXTERNAL_MODULES", raising=False)
    text = "\n".join(config_problems(compose_nft(overrides)))
    assert text, overrides
    for needle in needles:
        assert needle in text, (needle, text)


SMALL_SEPARATE = [LOGP, RC + "rollout_is=token", "trainer.v1.trainer_mode=separate_async",
                  "actor_rollout_ref.rollout.nnodes=1", "data.train_batch_size=4",
                  "actor_rollout_ref.actor.ppo_mini_batch_size=2", "actor_rollout_ref.rollout.n=4",
                  "trainer.v1.separate_async.parameter_sync_step=2", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
                  "trainer.n_gpus_per_node=1", CE + "backend=nccl", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
                  "actor_rollout_ref.actor.use_dynamic_bsz=false"]


def test_old_log_prob_micro_batches_must_split_the_mini_batch_in_separate_async(compose_nft):
    """Decoupled separate_async recomputes old log-probs once per mini-batch: verl's prepare_micro_batches
    asserts the split minutes into the run; the start-up arithmetic says it before Ray starts."""
    def recipe_problems(cfg, check_paths):
        return batch_layout(cfg)

    lp = "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="
    text = "\n".join(recipe_problems(compose_nft(SMALL_SEPARATE + [lp + "16"]), check_paths=False))
    for needle in ("the old-log-prob pass sees 8 sequences per rank", "a mini-batch of 2 prompts x 4 answers",
                   "once per mini-batch in separate_async", "log_prob_micro_batch_size_per_gpu (16)"):
        assert needle in text, (needle, text)
    assert "old-log-prob" not in "".join(recipe_problems(compose_nft(SMALL_SEPARATE + [lp + "8"]), check_paths=False))
    # sync mode runs the pass over the whole batch (16 sequences): 16 fits
    sync = [o for o in SMALL_SEPARATE if "separate_async" not in o and "nnodes" not in o]
    assert "old-log-prob" not in "".join(recipe_problems(compose_nft(sync + [lp + "16"]), check_paths=False))
    assert "the old-log-prob pass sees 16 sequences per rank (a batch of 4 prompts" in "".join(
        recipe_problems(compose_nft(sync + [lp + "32"]), check_paths=False))
    # bypass: no old-log-prob pass at all
    bypass = [o for o in SMALL_SEPARATE if "rollout_is" not in o] + [RC + "bypass_mode=true", lp + "16"]
    assert "old-log-prob" not in "".join(recipe_problems(compose_nft(bypass), check_paths=False))


def test_baselines_are_not_subject_to_the_nft_rules(compose_nft):
    """The rules are NFT's: a GRPO baseline in an async mode is verl's business."""
    grpo = ["algorithm.adv_estimator=grpo", "actor_rollout_ref.actor.policy_loss.loss_mode=vanilla",
            "trainer.v1.trainer_mode=colocate_async", NO_CAP]
    assert config_problems(compose_nft(grpo)) == []


# ------------------------------------------------------------------------------------------ rollout correction
def _offpolicy_batch(seed=0, B=8, T=5):
    """Two prompts x 4 answers; rollout log-probs differ from the old policy's by a known shift per answer."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 3, 4, 2, 5, 5, 1, 3])
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    verdicts = [1, 0, 1, 0, 0, 0, 1, 0]
    rewards = torch.zeros(B, T)
    for i, (v, n) in enumerate(zip(verdicts, lengths.tolist())):
        rewards[i, n - 1] = 1.0 if v else -1.0
    old = (-torch.rand(B, T, generator=g) - 0.1) * mask
    shift = torch.tensor([0.0, 0.1, -0.1, 3.0, 0.05, -0.1, 0.0, -3.0])  # rows 3 and 7 far off-policy
    rollout = (old - shift[:, None]) * mask  # old - rollout = shift: token IS weight exp(shift)
    uids = np.array(["p"] * 4 + ["q"] * 4, dtype=object)
    return dict(rewards=rewards, mask=mask, old=old, rollout=rollout, uids=uids, verdicts=verdicts, shift=shift,
                lengths=lengths)


def _corrected(b, **rc):
    data = DataProto.from_dict(
        tensors={"token_level_rewards": b["rewards"], "response_mask": b["mask"].clone(),
                 "old_log_probs": b["old"], "rollout_log_probs": b["rollout"]},
        non_tensors={"uid": b["uids"]},
    )
    cfg = {"rollout_is": None, "rollout_is_threshold": 2.0, "rollout_is_batch_normalize": False,
           "rollout_rs": None, "rollout_rs_threshold": None, **rc}
    data, metrics = compute_rollout_correction_and_add_to_batch(data, cfg)
    return data, metrics


def _advantages(data):
    return compute_advantage(data, adv_estimator="nft", config=None).batch["advantages"]


def test_rollout_rs_rejected_answers_still_count_in_r():
    """seq_sum_k1 with bounds 0.5_2.0 rejects rows 3 and 7 (|shift| = 3 on every token). r is the sampled
    group's (what nft/r/* logs); the rejected rows get an empty mask, hence zero advantage and loss."""
    b = _offpolicy_batch()
    data, metrics = _corrected(b, rollout_rs="seq_sum_k1", rollout_rs_threshold="0.5_2.0")
    kept_rows = data.batch["response_mask"].any(-1).tolist()
    assert kept_rows == [True, True, True, False, True, True, True, False], kept_rows
    # what the trainer logs as nft/r/* (all sampled answers) is what the estimator uses
    sampled = group_accuracy(list(b["uids"]), [float(s) for s in b["rewards"].sum(-1)])
    assert sampled == {"p": 0.5, "q": 0.25}
    adv = _advantages(data)
    mask = data.batch["response_mask"].bool()
    for i in range(8):
        r = sampled[b["uids"][i]]
        if mask[i].any():
            assert adv[i][mask[i]].tolist() == pytest.approx([b["verdicts"][i] - r] * int(mask[i].sum()), abs=1e-6)
        assert torch.all(adv[i][~mask[i]] == 0)
    # the rejected rows contribute nothing to the NFT loss
    cfg = types.SimpleNamespace(policy_loss=NFTPolicyLossConfig(), get=lambda k, d=None: d)
    fn = core_algos.get_policy_loss_fn("nft")
    new = (b["old"] + 0.3) * b["mask"]
    loss, _ = fn(old_log_prob=b["old"], log_prob=new.requires_grad_(), advantages=adv, response_mask=mask,
                 loss_agg_mode="token-sum", config=cfg)
    loss.backward()
    assert torch.all(new.grad[3] == 0) and torch.all(new.grad[7] == 0)
    assert new.grad[0].abs().sum() > 0


@pytest.mark.parametrize("mode,threshold", [("token", 2.0), ("sequence", 2.0), ("token", "0.5_5.0")])
def test_rollout_is_weights_multiply_the_nft_loss(mode, threshold):
    """verl's own weights (TIS / sequence IS / IcePop) reach the NFT loss and scale each token's term."""
    b = _offpolicy_batch(seed=1)
    data, metrics = _corrected(b, rollout_is=mode, rollout_is_threshold=threshold)
    w = data.batch["rollout_is_weights"]
    mask = data.batch["response_mask"].bool()
    assert torch.equal(mask, b["mask"].bool())  # IS alone never rejects
    # verl's weights as documented: token exp(shift) truncated at 2 / IcePop zeroed outside [0.5, 5]
    e = torch.exp(b["shift"])
    if mode == "token" and threshold == 2.0:
        expect = e.clamp(max=2.0)
    elif mode == "token":
        expect = torch.where((e >= 0.5) & (e <= 5.0), e, torch.zeros_like(e))
    else:
        expect = torch.exp(b["shift"] * b["lengths"]).clamp(max=2.0)
    for i in range(8):
        assert w[i][mask[i]].tolist() == pytest.approx([expect[i].item()] * int(mask[i].sum()), rel=1e-5)
    assert any(k.startswith("rollout_corr/") for k in metrics)

    adv = _advantages(data)
    cfg = types.SimpleNamespace(policy_loss=NFTPolicyLossConfig(), get=lambda k, d=None: d)
    fn = core_algos.get_policy_loss_fn("nft")
    new = (b["old"] + 0.2) * b["mask"]
    weighted, _ = fn(old_log_prob=b["old"], log_prob=new, advantages=adv, response_mask=mask,
                     loss_agg_mode="token-sum", config=cfg, rollout_is_weights=w)
    y = torch.tensor(b["verdicts"], dtype=torch.float32)
    r = torch.tensor([0.5] * 4 + [0.25] * 4)
    mat, _ = nft_loss_matrix(new, b["old"], y, r, mask, **NFTPolicyLossConfig().loss_kwargs())
    assert weighted.item() == pytest.approx((mat * w * mask).sum().item(), rel=1e-5)
    unweighted, _ = fn(old_log_prob=b["old"], log_prob=new, advantages=adv, response_mask=mask,
                       loss_agg_mode="token-sum", config=cfg)
    assert weighted.item() != pytest.approx(unweighted.item(), rel=1e-3)


# ------------------------------------------------------------------------------------------ metrics
def test_offpolicy_loss_metrics():
    """log R mean / std / max |.| over valid tokens and the share of negative tokens held at eps."""
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    old = torch.zeros(2, 3)
    delta = torch.tensor([[0.1, -0.3, 99.0], [2.0, 0.0, -0.5]])  # 99 sits on padding
    y = torch.tensor([1.0, 0.0])
    r = torch.tensor([0.5, 0.5])
    _, s = nft_loss_matrix(old + delta, old, y, r, mask, **NFTPolicyLossConfig().loss_kwargs())
    d = torch.tensor([0.1, -0.3, 2.0, 0.0, -0.5])
    assert s.log_ratio_mean == pytest.approx(d.mean().item(), abs=1e-6)
    assert s.log_ratio_std == pytest.approx(d.std(unbiased=False).item(), abs=1e-5)
    assert s.log_ratio_abs_max == pytest.approx(2.0)
    # negative tokens: (1 - 0.5 R)/(0.5) < 1 iff R > 1: only delta = 2.0 is held at eps = 1
    assert s.neg_clamped_frac == pytest.approx(1 / 3)
    m = s.as_metrics()
    assert {"actor/nft/log_ratio_std", "actor/nft/log_ratio_abs_max", "actor/nft/neg_clamped_frac"} <= set(m)
    # strictly on-policy: no spread
    _, s0 = nft_loss_matrix(old, old, y, r, mask, **NFTPolicyLossConfig().loss_kwargs())
    assert s0.log_ratio_std == 0.0 and s0.log_ratio_abs_max == 0.0 and math.isfinite(s0.ratio_mean)


def test_trainer_statistics_never_stop_training(monkeypatch):
    """NFTTrainerMixin._compute_advantage logs the sampled groups' r and calls verl's, also when the
    statistics fail; it passes nothing to the estimator (which reads r from the batch)."""
    import nft.trainer as T

    calls = []

    class Base:
        def _compute_advantage(self, batch, metrics):
            calls.append(batch)
            return batch

    class Tr(T.NFTTrainerMixin, Base):
        pass

    tr = Tr()
    tr._nft_r_values, tr._nft_truncated = [], []
    monkeypatch.setattr(Tr, "_nft_batch_group_accuracy", staticmethod(lambda batch: {"u1": 0.25, "u2": 1.0}))
    monkeypatch.setattr(Tr, "_nft_batch_truncation_rate", staticmethod(lambda batch: 0.0))
    batch = object()
    assert tr._compute_advantage(batch, {}) is batch and tr._nft_r_values == [0.25, 1.0]
    monkeypatch.setattr(Tr, "_nft_batch_group_accuracy", staticmethod(lambda batch: 1 / 0))
    assert tr._compute_advantage(batch, {}) is batch and len(calls) == 2


# ------------------------------------------------------------------------------------------ recipe switches
def _script_args(tmp_path, **env) -> list[str]:
    import os
    import subprocess

    keep = {k: v for k, v in os.environ.items() if k not in ("ALGO", "BYPASS", "TRAINER_MODE", "NEG_WEIGHT",
                                                              "NORMALIZE", "DRY_RUN", "PRESET")}
    r = subprocess.run(["bash", str(REPO / "train_7B.sh")], env={**keep, "PYTHON": sys.executable, "PRINT_ARGS": "1",
                                                                 **env},
                       cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.mark.parametrize("mode", ["colocate_async", "separate_async"])
def test_recipe_switches_compose_and_validate(compose_nft, tmp_path, mode):
    from nft.checks import check

    extra = [] if mode == "colocate_async" else [
        "trainer.v1.separate_async.parameter_sync_step=16",  # 512 prompts / 32 per mini-batch
        "actor_rollout_ref.rollout.nnodes=1", "actor_rollout_ref.rollout.checkpoint_engine.backend=nccl"]
    args = _script_args(tmp_path, BYPASS="1", TRAINER_MODE=mode)
    for switch in ("algorithm.rollout_correction.bypass_mode=true", "actor_rollout_ref.rollout.calculate_log_probs=true",
                   f"trainer.v1.trainer_mode={mode}", "algorithm.filter_groups.max_num_gen_batches=0"):
        assert switch in args
    cfg = compose_nft(args + extra)  # the script's model/algo/preset choices are Hydra overrides too
    check(cfg, check_paths=False)  # NFT start-up rules + cluster arithmetic + verl's own validation
    assert cfg.algorithm.rollout_correction.bypass_mode is True and cfg.trainer.v1.trainer_mode == mode
    assert cfg.actor_rollout_ref.actor.policy_loss.loss_mode == "nft"
    # async without bypass: refused, saying what to set
    with pytest.raises(ValueError, match="bypass_mode=True"):
        check(compose_nft(_script_args(tmp_path, TRAINER_MODE=mode) + extra), check_paths=False)
    # the baselines run in the same modes (verl's own correction rules apply to them)
    check(compose_nft(_script_args(tmp_path, ALGO="grpo", BYPASS="1", TRAINER_MODE=mode) + extra), check_paths=False)


def test_recipe_switch_errors(tmp_path):
    import subprocess

    for env, msg in (({"BYPASS": "yes"}, "BYPASS=yes must be 0 or 1"),
                     ({"TRAINER_MODE": "fully_async"}, "TRAINER_MODE=fully_async is not one of")):
        r = subprocess.run(["bash", str(REPO / "train_7B.sh")], env={"PATH": "/usr/bin:/bin", "PRINT_ARGS": "1", **env},
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_paper_shape_share_formula():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import step_time
    finally:
        sys.path.pop(0)
    share = step_time.paper_shape_share({"fwd": 1.0, "fwd_bwd": 2.0, "fwd_bwd_ckpt": 3.0})
    assert share["fwd_bwd"] == pytest.approx(1 / 3) and share["fwd_bwd_ckpt"] == pytest.approx(1 / 4)
    assert share["sequences"] == 512 * 16 and share["updates_per_step"] == 16
    two_epochs = step_time.paper_shape_share({"fwd": 1.0, "fwd_bwd": 2.0, "fwd_bwd_ckpt": 3.0}, ppo_epochs=2)
    assert two_epochs["fwd_bwd"] == pytest.approx(1 / 5)


def test_the_tcp_engine_names_agree_with_the_start_up_rules():
    assert tcp_checkpoint_engine.BACKEND == TCP_BACKEND and tcp_checkpoint_engine.__name__ == TCP_MODULE
