"""verl 0.9.1's TrainingWorker on CPU, in one process: FSDP2, gloo, world size 1, tiny random Qwen2.

One ``train_mini_batch`` through verl's real ``ppo_loss`` into the registered ``nft`` policy loss
(advantages from the registered ``nft`` estimator through verl's ``compute_advantage``): the loss is
finite, grad_norm > 0 and every parameter changes. The worker runs in a child process (the verl
platform is chosen once per process from ``VERL_PLATFORM`` and torch.distributed is process-global),
which prints its results as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(model_dir: str, loss_mode: str) -> dict:  # runs in the child process
    import numpy as np
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    import nft.local.plugin as plugin  # already imported by verl via VERL_USE_EXTERNAL_MODULES
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import compute_advantage
    from verl.utils import tensordict_utils as tu
    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.device import get_device_name
    from verl.workers.config import TrainingWorkerConfig
    from verl.workers.engine_workers import TrainingWorker
    from verl.workers.utils.losses import ppo_loss
    from verl.workers.utils.padding import left_right_2_no_padding
    from functools import partial

    assert plugin.CPU_SELECTED and get_device_name() == "cpu"
    torch.manual_seed(0)

    if loss_mode == "nft":
        import nft.register  # noqa: F401

        cfg_dir, cfg_name = os.path.join(REPO, "recipes", "config"), "nft_trainer"
    else:
        import verl.trainer.config as vcfg

        cfg_dir, cfg_name = os.path.dirname(vcfg.__file__), "ppo_trainer"
    with initialize_config_dir(config_dir=cfg_dir, version_base=None):
        cfg = compose(
            config_name=cfg_name,
            overrides=[
                f"actor_rollout_ref.model.path={model_dir}",
                "actor_rollout_ref.actor.strategy=fsdp2",
                "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
                "actor_rollout_ref.actor.ppo_mini_batch_size=8",
                "actor_rollout_ref.actor.optim.lr=1e-2",
                "actor_rollout_ref.actor.optim.lr_warmup_steps=0",  # nft_trainer warms up 10 steps from 0
                "actor_rollout_ref.actor.use_torch_compile=false",
                "actor_rollout_ref.model.use_remove_padding=false",
                "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
                f"actor_rollout_ref.actor.policy_loss.loss_mode={loss_mode}",
            ],
        )
    actor_cfg = cfg.actor_rollout_ref.actor
    with open_dict(actor_cfg):
        actor_cfg.ppo_mini_batch_size = 8
    model_config = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    actor_config = omega_conf_to_dataclass(actor_cfg)
    actor_config.model_config = model_config
    # As verl/workers/engine_workers.py::ActorRolloutRefWorker.init_model builds it.
    wcfg = TrainingWorkerConfig(
        model_type="language_model",
        model_config=model_config,
        engine_config=actor_config.engine,
        optimizer_config=actor_config.optim,
        checkpoint_config=actor_config.checkpoint,
    )
    wcfg.engine_config.use_dynamic_bsz = False
    wcfg.engine_config.micro_batch_size_per_gpu = 4
    wcfg.engine_config.infer_micro_batch_size_per_gpu = 4
    wcfg.engine_config.use_remove_padding = False
    worker = TrainingWorker(config=wcfg)
    worker.reset()
    worker.set_loss_fn(partial(ppo_loss, config=actor_config))

    # A batch of 8 responses to 2 prompts (4 each), left-padded prompts, right-padded responses.
    bs, p_len, r_len, vocab = 8, 6, 5, model_config.hf_config.vocab_size
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(3, vocab - 1, (bs, p_len), generator=g)
    responses = torch.randint(3, vocab - 1, (bs, r_len), generator=g)
    p_mask = torch.ones(bs, p_len, dtype=torch.long)
    p_mask[::2, :2] = 0  # left padding on some prompts
    r_len_i = torch.tensor([5, 3, 4, 5, 2, 5, 1, 4])
    r_mask = (torch.arange(r_len)[None, :] < r_len_i[:, None]).long()
    attention_mask = torch.cat([p_mask, r_mask], dim=1)
    input_ids = torch.cat([prompts, responses], dim=1) * attention_mask
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    scores = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, -1.0, -1.0, 1.0])
    token_level_scores = torch.zeros(bs, r_len)
    token_level_scores[torch.arange(bs), r_len_i - 1] = scores
    old_log_probs = (-2.0 - 0.1 * torch.rand(bs, r_len, generator=g)) * r_mask
    data = DataProto.from_dict(
        tensors=dict(
            prompts=prompts,
            responses=responses,
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            response_mask=r_mask,
            token_level_rewards=token_level_scores,
            old_log_probs=old_log_probs,
        ),
        non_tensors=dict(uid=np.array(["a"] * 4 + ["b"] * 4, dtype=object)),
        meta_info={"temperature": 1.0},
    )
    adv_estimator = "nft" if loss_mode == "nft" else "grpo"
    data = compute_advantage(data, adv_estimator=adv_estimator, num_repeat=4, config=cfg.algorithm)
    adv = data.batch["advantages"]

    td = left_right_2_no_padding(data.to_tensordict())
    tu.assign_non_tensor(
        td,
        calculate_entropy=False,
        distillation_use_topk=False,
        distillation_only=False,
        global_batch_size=8,
        mini_batch_size=8,
        epochs=1,
        seed=0,
        dataloader_kwargs={"shuffle": False},
        compute_loss=True,
        temperature=1.0,
    )
    before = {n: p.detach().clone().float() for n, p in worker.engine.module.named_parameters()}
    out = worker.train_mini_batch(td)
    metrics = tu.get(out, "metrics")
    after = dict(worker.engine.module.named_parameters())
    changed = {n: float((after[n].detach().float() - before[n]).abs().max()) for n in before}

    def _flat(v):
        if isinstance(v, list):
            return [float(x) for x in v]
        return [float(v)]

    return {
        "metrics": {k: _flat(v) for k, v in metrics.items() if isinstance(v, (int, float, list))},
        "changed": changed,
        "advantages": adv[r_mask.bool()].tolist(),
        "loss_mode": actor_config.policy_loss.loss_mode,
        "policy_loss_cls": type(actor_config.policy_loss).__name__,
        "device": get_device_name(),
        "world_size": int(os.environ["WORLD_SIZE"]),
    }


def _run_child(tmp_path, loss_mode: str) -> dict:
    from nft.local.tiny_model import build_tiny_model

    model_dir = build_tiny_model(str(tmp_path / "tiny"), seed=0)
    env = dict(os.environ)
    env.update(
        VERL_PLATFORM="cpu",
        VERL_USE_EXTERNAL_MODULES="nft.local.plugin",
        RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""),
    )
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), model_dir, loss_mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path),
    )
    if proc.returncode != 0:
        raise AssertionError(f"child failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _nft_ready() -> bool:
    return os.path.exists(os.path.join(REPO, "recipes", "config", "nft_trainer.yaml")) and os.path.exists(
        os.path.join(REPO, "nft", "register.py")
    )


@pytest.mark.skipif(not _nft_ready(), reason="nft/register.py or recipes/config/nft_trainer.yaml not present")
def test_training_worker_one_mini_batch_nft_loss(tmp_path):
    res = _run_child(tmp_path, "nft")
    assert res["device"] == "cpu" and res["world_size"] == 1
    assert res["loss_mode"] == "nft"
    assert res["policy_loss_cls"] == "NFTPolicyLossConfig"
    # The nft estimator's encoding: A = y - clip(r, 0.02, 0.98); group a: r=2/4, group b: r=1/4.
    adv = res["advantages"]
    assert all(abs(a) > 0.01 for a in adv)
    assert {round(a, 4) for a in adv} <= {0.5, -0.5, 0.75, -0.25}
    m = res["metrics"]
    loss = m["loss"]
    assert all(x == x and abs(x) < 1e6 for x in loss), loss  # finite
    assert m["grad_norm"][0] > 0
    # NFT's own metrics reach the worker's output (their names are the loss's; at least one key
    # beyond verl's generic ones, all finite).
    generic = {"loss", "grad_norm", "lr", "mfu"}
    own = {k: v for k, v in m.items() if k not in generic and not k.startswith("perf/")}
    assert own, sorted(m)
    for k, v in own.items():
        assert all(x == x and abs(x) != float("inf") for x in v), (k, v)
    assert all(d > 0 for d in res["changed"].values()), {k: d for k, d in res["changed"].items() if d == 0}


def test_training_worker_one_mini_batch_vanilla_loss(tmp_path):
    """The same worker and batch with verl's own ``vanilla`` loss + ``grpo``: the CPU platform alone."""
    res = _run_child(tmp_path, "vanilla")
    assert res["device"] == "cpu" and res["loss_mode"] == "vanilla"
    m = res["metrics"]
    assert all(x == x and abs(x) < 1e6 for x in m["loss"])
    assert m["grad_norm"][0] > 0
    assert all(d > 0 for d in res["changed"].values())


if __name__ == "__main__":
    result = _child(sys.argv[1], sys.argv[2])
    print(json.dumps(result))
