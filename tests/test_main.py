"""nft.trainer / nft.main: the max_num_gen_batches cap driven by verl's real sync ReplayBuffer (over an
in-memory stand-in for TransferQueue's kv API), NFT group statistics, trainer/TaskRunner wiring."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nft import trainer as T


# ------------------------------------------------------------------------------------------ pure helpers
def test_group_accuracy_and_metrics():
    uids = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    scores = [1, -1, -1, -1, 1, 1, 1, -1, 1, 1, 1, 1]
    r = T.group_accuracy(uids, scores)
    assert r == {"a": 0.25, "b": 0.75, "c": 1.0}
    m = T.nft_group_metrics(r.values(), {1.0: 3, 0.0: 5})
    assert m["nft/groups/judged"] == 11 and m["nft/groups/kept"] == 3
    assert m["nft/groups/filtered_all_correct"] == 3 and m["nft/groups/filtered_all_wrong"] == 5
    assert m["nft/groups/filtered_all_correct_frac"] == pytest.approx(3 / 11)
    assert m["nft/groups/filtered_all_wrong_frac"] == pytest.approx(5 / 11)
    assert m["nft/groups/kept_all_correct_frac"] == pytest.approx(1 / 3)
    assert m["nft/groups/kept_all_wrong_frac"] == 0.0
    assert m["nft/r/mean"] == pytest.approx(2 / 3) and m["nft/r/min"] == 0.25 and m["nft/r/max"] == 1.0
    assert m["nft/r/p50"] == 0.75 and m["nft/r/p25"] == pytest.approx(0.5)
    empty = T.nft_group_metrics([], None)
    assert empty["nft/groups/judged"] == 0 and "nft/r/mean" not in empty
    with pytest.raises(ValueError, match="differ in length"):
        T.group_accuracy(["a"], [1, 1])


def _cfg(bs=4, max_batches=3, inflight=2, enable=True):
    return OmegaConf.create({
        "data": {"train_batch_size": bs},
        "algorithm": {"filter_groups": {"enable": enable, "metric": "acc", "max_num_gen_batches": max_batches,
                                        "max_inflight_gen_batches": inflight}},
    })


def test_generation_cap_prompts():
    assert T.generation_cap_prompts(_cfg(512, 10, 3)) == 15360  # the authors' 10 x (3 x 512)
    assert T.generation_cap_prompts(_cfg(max_batches=0)) is None
    assert T.generation_cap_prompts(_cfg(enable=False)) is None


# ------------------------------------------------------------------------------------------ fake TQ
class FakeTQ:
    """The part of TransferQueue's kv API that verl's ReplayBuffer and our statistics call."""

    def __init__(self):
        self.store: dict[str, dict] = {}  # key -> {"tag": ..., "value": ...}

    def kv_list(self, partition_id=None):
        return {"train": {k: v["tag"] for k, v in self.store.items()}}

    def kv_clear(self, keys, partition_id=None):
        for k in keys:
            self.store.pop(k, None)

    def kv_batch_get(self, keys, partition_id=None, select_fields=()):
        vals = [self.store[k]["value"] for k in keys]
        if "extra_fields" in select_fields:
            return {"extra_fields": [{"reward_extra_info": {"acc": v["acc"]}} for v in vals]}
        uids = np.array([v["uid"] for v in vals], dtype=object)
        scores = torch.tensor([[v["score"], 0.0] for v in vals])  # token-level, score on one token
        return types.SimpleNamespace(to_padded_tensor=lambda: {"uid": uids, "rm_scores": scores})

    def add_group(self, uid: str, accs: list[int]):
        self.store[uid] = {"tag": {"is_prompt": True, "status": "finished", "global_steps": 1}, "value": None}
        for i, a in enumerate(accs):
            self.store[f"{uid}_{i}_0"] = {"tag": {"status": "finished"},
                                          "value": {"uid": uid, "acc": a, "score": 1.0 if a else -1.0}}


class FakeSyncBase:
    """verl's PPOTrainer sync step, reduced to the calls the mixin overrides (trainer_base.py::step)."""

    def __init__(self, config, tq, groups):
        from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

        self.config, self.tq, self.groups, self.global_steps = config, tq, groups, 1
        self.submitted = 0
        fg = config.algorithm.filter_groups
        self.replay_buffer = ReplayBuffer(
            trainer_mode="sync", trainer_config=OmegaConf.create({}), max_off_policy_threshold=None,
            max_off_policy_strategy="drop", sampler_kwargs=OmegaConf.create({}), poll_interval=0.0,
            refill_fn=self._add_prompts_to_generate, filter_groups_metric="acc",
            train_batch_size=config.data.train_batch_size, gen_batch_size=1,
            max_inflight_gen_batches=fg.max_inflight_gen_batches,
        )

    def _add_prompts_to_generate(self, n):
        for _ in range(n):  # "generation": finished groups with the next accuracy pattern
            uid = f"u{self.submitted}"
            self.tq.add_group(uid, next(self.groups))
            self.submitted += 1
        return n

    def prepare_step(self):
        FakeSyncBase._add_prompts_to_generate(self, self.config.data.train_batch_size)
        return {}

    def _compute_advantage(self, batch, metrics):
        return batch

    def step(self, metrics, timing_raw):
        self.prepare_step()
        batch, m = self.replay_buffer.sample(global_steps=1, partition_id="train",
                                             batch_size=self.config.data.train_batch_size)
        metrics.update(m)
        return self._compute_advantage(batch, metrics)


class Trainer(T.NFTTrainerMixin, FakeSyncBase):
    pass


@pytest.fixture
def fake_tq(monkeypatch):
    import transfer_queue

    import verl.trainer.ppo.v1.replay_buffer as rb

    tq = FakeTQ()
    for name in ("kv_list", "kv_clear", "kv_batch_get"):
        monkeypatch.setattr(rb.tq, name, getattr(tq, name))
        monkeypatch.setattr(transfer_queue, name, getattr(tq, name))
    return tq


def test_saturated_data_hits_generation_cap(fake_tq):
    """All groups all-correct: verl's sampler would refill forever; the mixin stops it at the cap."""
    tr = Trainer(_cfg(bs=4, max_batches=3, inflight=2), fake_tq, itertools.repeat([1, 1, 1, 1]))
    with pytest.raises(T.GenerationBudgetExceeded) as e:
        tr.step({}, {})
    msg = str(e.value)
    assert "algorithm.filter_groups.max_num_gen_batches=3 generation batches of 2 x 4 prompts" in msg
    assert "cap 24" in msg and "set it to 0 for no cap" in msg
    assert tr._nft_dispatched <= 24 and tr.submitted == tr._nft_dispatched  # never dispatched past the cap


def test_step_within_cap_logs_group_statistics(fake_tq):
    """Groups cycle all-correct, all-wrong, mixed r=0.25, mixed r=0.75: half are filtered."""
    from verl.trainer.ppo.v1.replay_buffer import DAPO_FILTERED_REWARD_COUNTS_KEY

    patterns = itertools.cycle([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]])
    tr = Trainer(_cfg(bs=4, max_batches=3, inflight=2), fake_tq, patterns)
    metrics: dict = {}
    batch = tr.step(metrics, {})
    kept_uids = {k.split("_")[0] for k in batch.keys}
    assert len(kept_uids) == 4
    # 4 first + 2 x 2 evicted refilled (max 8 in flight) -> 8 dispatched, 2 all-correct + 2 all-wrong filtered
    assert tr._nft_dispatched == 8 == tr.submitted and metrics["nft/gen/prompts_dispatched"] == 8
    assert metrics[DAPO_FILTERED_REWARD_COUNTS_KEY] == {1.0: 2, 0.0: 2}
    assert metrics["nft/groups/filtered_all_correct"] == 2 and metrics["nft/groups/filtered_all_wrong"] == 2
    assert metrics["nft/groups/kept"] == 4 and metrics["nft/groups/judged"] == 8
    assert metrics["nft/groups/filtered_all_correct_frac"] == 0.25
    assert metrics["nft/r/mean"] == 0.5 and metrics["nft/r/min"] == 0.25 and metrics["nft/r/max"] == 0.75
    # the counter restarts every step
    metrics2: dict = {}
    tr.step(metrics2, {})
    assert metrics2["nft/gen/prompts_dispatched"] == 8


def test_uncapped_when_zero(fake_tq):
    tr = Trainer(_cfg(bs=2, max_batches=0, inflight=1), fake_tq,
                 itertools.chain(itertools.repeat([1, 1], 40), itertools.repeat([1, 0])))
    metrics: dict = {}
    tr.step(metrics, {})
    assert metrics["nft/groups/filtered_all_correct"] == 40 and metrics["nft/r/mean"] == 0.5


# ------------------------------------------------------------------------------------------ wiring
#: the verl methods NFTTrainerMixin extends (each calls super()), with a fingerprint of their source (AST) in
#: verl 0.9.1: when verl changes one, re-read it and check that the mixin's use of it still holds
#: (prepare_step starts a step's dispatch count, _add_prompts_to_generate is the refill hook the cap
#: counts, _compute_advantage reads uid/rm_scores/extra_fields from TransferQueue, step returns the metrics).
MIXIN_OVERRIDES = {
    ("sync", "prepare_step"): ("verl.trainer.ppo.v1.trainer_base.PPOTrainer", "65a9a083bae0f85b"),
    ("separate_async", "prepare_step"): ("verl.trainer.ppo.v1.trainer_separate_async.PPOTrainerSeparateAsync",
                                         "3ca0fc0621f6ea5e"),
    ("sync", "_add_prompts_to_generate"): ("verl.trainer.ppo.v1.trainer_base.PPOTrainer", "83fcef2aeba4d620"),
    ("sync", "_compute_advantage"): ("verl.trainer.ppo.v1.trainer_base.PPOTrainer", "37fe4309de1e1458"),
    ("sync", "step"): ("verl.trainer.ppo.v1.trainer_base.PPOTrainer", "3a2c81baa2484613"),
}


def _fingerprint(fn) -> str:
    import ast
    import hashlib
    import inspect
    import textwrap

    return hashlib.sha256(ast.dump(ast.parse(textwrap.dedent(inspect.getsource(fn)))).encode()).hexdigest()[:16]


def test_the_verl_methods_the_mixin_overrides_are_unchanged():
    from verl.trainer.ppo.v1 import get_trainer_cls

    overridden = {n for n in vars(T.NFTTrainerMixin) if callable(getattr(T.NFTTrainerMixin, n)) and not n.startswith("_nft")
                  and not n.startswith("__")}
    assert overridden == {name for _, name in MIXIN_OVERRIDES}, overridden
    for mode in ("sync", "colocate_async", "separate_async"):
        base = get_trainer_cls(mode)
        for name in overridden:
            owner = next(c for c in base.__mro__ if name in vars(c))
            expect = MIXIN_OVERRIDES.get((mode, name)) or MIXIN_OVERRIDES[("sync", name)]
            got = (f"{owner.__module__}.{owner.__qualname__}", _fingerprint(vars(owner)[name]))
            assert got == expect, (f"verl's {got[0]}.{name} changed for trainer_mode={mode}: re-read it against "
                                   f"nft/trainer.py::NFTTrainerMixin.{name}, then update MIXIN_OVERRIDES", got, expect)


def test_trainer_class_and_task_runner():
    from verl.trainer.ppo.v1 import PPOTrainerSync

    from nft.main import task_runner_cls

    cls = T.nft_trainer_cls("sync")
    assert issubclass(cls, PPOTrainerSync) and cls.__mro__[1] is T.NFTTrainerMixin
    assert T.nft_trainer_cls("sync") is cls
    runner = task_runner_cls()
    plain = runner.__ray_actor_class__
    assert plain.run.__qualname__.endswith("NFTTaskRunner.run")
    assert hasattr(plain, "init_agent_loop_manager")


def test_dry_run_main_in_process(compose_nft, monkeypatch, capsys):
    from nft import main as M

    monkeypatch.setenv("DRY_RUN", "1")
    cfg = compose_nft(["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2", "actor_rollout_ref.rollout.n=4",
                       "data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
                       "trainer.n_gpus_per_node=2", "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
                       "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"])
    M.run(cfg)
    out = capsys.readouterr().out
    assert "DRY_RUN: config composed and validated; Ray not started." in out
    assert "batch: 8 prompts x 4 answers = 32 sequences/step; mini-batch 4 x 4 = 16 -> 2 updates/step" in out
    bad = compose_nft(["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2", "actor_rollout_ref.rollout.n=4",
                       "actor_rollout_ref.actor.policy_loss.neg_weight=-1"])
    with pytest.raises(ValueError, match="neg_weight=-1"):
        M.run(bad)
