"""Checkpoint -> Hugging Face folder, as documented in docs/cluster.md:

    python -m verl.model_merger merge --backend fsdp --local_dir <ckpt>/global_step_N/actor --target_dir <out>

A real FSDP2 checkpoint is written by verl's own FSDPCheckpointManager (the one verl's FSDP engine
uses) from a tiny Qwen2 model after one AdamW step, in one gloo process (world size 1, CPU). The merged
folder must load with transformers and hold exactly the trained weights (the merger writes bf16)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import torch

MAKE_CKPT = r'''
import os, sys, torch
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[3], RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer
from verl.utils.checkpoint.fsdp_checkpoint_manager import FSDPCheckpointManager

src, ckpt = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
dist.init_process_group("gloo", rank=0, world_size=1)
model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
tok = AutoTokenizer.from_pretrained(src)
mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("fsdp",))
for layer in model.model.layers:
    fully_shard(layer, mesh=mesh)
fully_shard(model, mesh=mesh)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
ids = tok("What is 1 + 1? Answer: 2", return_tensors="pt").input_ids
model(input_ids=ids, labels=ids).loss.backward()
opt.step()
cfg = OmegaConf.create({"save_contents": ["model", "optimizer", "extra"], "load_contents": ["model"]})
FSDPCheckpointManager(model=model, optimizer=opt, lr_scheduler=None, processing_class=tok,
                      checkpoint_config=cfg).save_checkpoint(local_path=ckpt, global_step=1)
sd = {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().clone() for k, v in model.state_dict().items()}
torch.save(sd, sys.argv[4])
dist.destroy_process_group()
'''


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_fsdp_checkpoint_merges_to_exact_hf_folder(tmp_path):
    from nft.local.tiny_model import build_tiny_model

    src = build_tiny_model(str(tmp_path / "src"))
    actor = tmp_path / "ckpt" / "global_step_1" / "actor"  # verl's layout: <default_local_dir>/global_step_N/actor
    ref_path = tmp_path / "trained.pt"
    script = tmp_path / "make_ckpt.py"
    script.write_text(MAKE_CKPT)
    r = subprocess.run([sys.executable, str(script), src, str(actor), str(_free_port()), str(ref_path)],
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((actor / "fsdp_config.json").read_text()) == {"FSDP_version": 2, "world_size": 1}
    assert (actor / "model_world_size_1_rank_0.pt").is_file() and (actor / "huggingface" / "config.json").is_file()

    out = tmp_path / "hf"
    r = subprocess.run([sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
                        "--local_dir", str(actor), "--target_dir", str(out)],
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stderr[-3000:]

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = load_file(str(out / "model.safetensors"))
    trained = torch.load(ref_path)
    source = load_file(str(tmp_path / "src" / "model.safetensors"))
    assert set(merged) == set(trained) - {"lm_head.weight"}  # tied to the embedding, dropped on save
    for k, v in merged.items():
        assert v.dtype == torch.bfloat16
        assert torch.equal(v, trained[k].to(torch.bfloat16)), k
    # the checkpoint holds the trained weights, not the initial ones
    assert sum(not torch.equal(source[k].float(), trained[k]) for k in merged) >= len(merged) - 1

    model = AutoModelForCausalLM.from_pretrained(str(out))
    tok = AutoTokenizer.from_pretrained(str(out))
    assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    assert tok.decode(tok("x = 12")["input_ids"]) == "x = 12"
    assert tok.chat_template == AutoTokenizer.from_pretrained(src).chat_template
