"""nft.local.hf_rollout (the server, without Ray) and nft.local.cpu_platform / plugin (in a child process)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from verl.workers.config import HFModelConfig, RolloutConfig

    from nft.local.hf_rollout import HFRolloutServer
    from nft.local.tiny_model import build_tiny_model

    path = build_tiny_model(str(tmp_path_factory.mktemp("hf") / "m"), seed=0)
    cfg = RolloutConfig(name="hf", prompt_length=32, response_length=6)
    return HFRolloutServer(cfg, HFModelConfig(path=path), replica_rank=0)


def _prompt(server, text="Repeat the digit: 3"):
    tok = server.model_config.tokenizer
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _gen(server, prompts, sp):
    async def go():
        return await asyncio.gather(*[server.generate(p, dict(sp), request_id=str(i)) for i, p in enumerate(prompts)])

    return asyncio.run(go())


def test_generate_logprobs_match_a_forward_pass(server):
    p = _prompt(server)
    outs = _gen(server, [p] * 5, {"temperature": 0.7, "top_p": 1.0, "top_k": -1, "logprobs": True})
    assert len(outs) == 5
    model = server.model
    for o in outs:
        assert 1 <= len(o.token_ids) <= 6 and len(o.log_probs) == len(o.token_ids)
        assert o.stop_reason == "completed"
        eos = server.eos_ids
        # EOS ends a response and is part of it; nothing follows it
        assert all(t not in eos for t in o.token_ids[:-1])
        with torch.no_grad():
            logits = model(torch.tensor([p + o.token_ids])).logits[0, len(p) - 1 : -1] / 0.7
        ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(o.token_ids)[:, None]).squeeze(-1)
        assert torch.allclose(torch.tensor(o.log_probs), ref, atol=1e-4), (o.log_probs, ref.tolist())


def test_greedy_is_deterministic_and_batched_equals_single(server):
    a, b = _prompt(server, "Repeat the digit: 1"), _prompt(server, "hello there, a longer prompt 12")
    sp = {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": False}
    single = [_gen(server, [a], sp)[0].token_ids, _gen(server, [b], sp)[0].token_ids]
    batched = [o.token_ids for o in _gen(server, [a, b], sp)]  # left-padded together
    assert batched == single
    assert _gen(server, [a], sp)[0].log_probs is None


def test_max_tokens_and_errors(server):
    p = _prompt(server)
    o = _gen(server, [p], {"temperature": 1.0, "max_tokens": 2, "ignore_eos": True})[0]
    assert len(o.token_ids) == 2
    with pytest.raises(ValueError, match="max_model_len"):
        _gen(server, [list(range(3, 50))], {"temperature": 1.0})


def test_update_weights_loads_every_parameter(server):
    new = {n: torch.randn_like(p) * 0.01 for n, p in server.model.named_parameters()}
    named = [(n, t) for n, t in new.items()]
    assert server.update_weights(named, global_steps=7) == len(new)
    got = server.get_named_parameters()
    assert all(torch.equal(got[n], new[n]) for n in new)
    assert server.get_stats()["num_weight_updates"] >= 1 and server.global_steps == 7
    with pytest.raises(ValueError, match="did not include"):
        server.update_weights(named[1:])
    with pytest.raises(ValueError, match="does not have"):
        server.update_weights(named + [("model.extra.weight", torch.zeros(1))])
    name, t = named[0]
    with pytest.raises(ValueError, match="shape"):
        server.update_weights([(name, torch.zeros(3))] + named[1:])


def test_abort_and_resume(server):
    async def go():
        await server.abort_all_requests(reject_request=True)
        rejected = await server.generate(_prompt(server), {"temperature": 1.0}, request_id="x")
        await server.resume_generation()
        ok = await server.generate(_prompt(server), {"temperature": 1.0}, request_id="y")
        return rejected, ok

    rejected, ok = asyncio.run(go())
    assert rejected.stop_reason == "aborted" and rejected.token_ids == []
    assert ok.stop_reason == "completed" and ok.token_ids


CHILD = r"""
import json, os, sys
import torch
import verl
from verl.utils.device import get_device_name, get_nccl_backend, get_torch_device, get_device_id, get_resource_name
from verl.workers.rollout.base import get_rollout_class
from verl.workers.rollout.replica import get_rollout_replica_class
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
import inspect
import torch.distributed as dist
dist.init_process_group(backend=f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}", rank=0, world_size=1)
t = torch.ones(3)
dist.all_reduce(t)
out = dict(
    device=get_device_name(), backend=get_nccl_backend(), resource=get_resource_name(),
    device_id=str(get_device_id()), tensor_on=str(torch.zeros(1, device=get_device_id()).device),
    mem=get_torch_device().memory_allocated(), engine_device=os.environ.get("VERL_ENGINE_DEVICE"),
    rollout=get_rollout_class("hf", "async").__name__, replica=get_rollout_replica_class("hf").__name__,
    poll=getattr(ReplayBuffer.__init__, "_nft_cpu_poll", False), allreduce=t.tolist(),
)
dist.destroy_process_group()
print(json.dumps(out))
"""


def _child_env(**extra):
    env = dict(os.environ)
    env.update(VERL_USE_EXTERNAL_MODULES="nft.local.plugin", MASTER_ADDR="127.0.0.1", TOKENIZERS_PARALLELISM="false")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        env["MASTER_PORT"] = str(s.getsockname()[1])
    env.update(extra)
    return env


def test_plugin_selects_cpu_platform_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-c", CHILD], env=_child_env(VERL_PLATFORM="cpu"), capture_output=True,
                          text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["device"] == "cpu" and out["backend"] == "gloo" and out["resource"] == "GPU"
    assert out["tensor_on"] == "cpu" and out["mem"] == 0 and out["engine_device"] == "cuda"
    assert out["rollout"] == "HFServerAdapter" and out["replica"] == "HFReplica"
    assert out["poll"] is True and out["allreduce"] == [1.0, 1.0, 1.0]


def test_plugin_without_cpu_selection_only_registers():
    """Without VERL_PLATFORM=cpu the plugin leaves the platform alone (the hf rollout is still there)."""
    code = (
        "import os, verl, torch.distributed as dist\n"
        "from verl.workers.rollout.replica import get_rollout_replica_class\n"
        "from verl.plugin.platform import PlatformRegistry\n"
        "print(get_rollout_replica_class('hf').__name__, 'cpu' in PlatformRegistry.registered_names(),\n"
        "      os.environ.get('VERL_ENGINE_DEVICE'), getattr(dist.init_process_group, '_nft_cpu_dedupe', False))\n"
    )
    env = _child_env()
    env.pop("VERL_PLATFORM", None)
    env.pop("VERL_ENGINE_DEVICE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-4:] == ["HFReplica", "True", "None", "False"]


def test_other_verl_version_is_refused(monkeypatch):
    import verl

    from nft.local import plugin

    monkeypatch.setattr(verl, "__version__", "0.8.0")
    with pytest.raises(ImportError, match=r"verl==0\.9\.1 only, found verl==0\.8\.0"):
        plugin.check_verl_version()


def test_backend_dedupe():
    from nft.local.cpu_platform import _dedupe_backend

    assert _dedupe_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert _dedupe_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert _dedupe_backend("gloo") == "gloo" and _dedupe_backend(None) is None
