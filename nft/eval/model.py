"""Model inputs: a Hugging Face folder, or a verl FSDP checkpoint merged to one first.

A verl FSDP checkpoint is ``<ckpt_dir>/global_step_N/actor`` holding
``model_world_size_{W}_rank_{r}.pt`` shards, ``fsdp_config.json`` and ``huggingface/`` (config +
tokenizer); see verl/model_merger/fsdp_model_merger.py::FSDPModelMerger._get_world_size and
verl/model_merger/base_model_merger.py::_default_hf_model_config_path. It is merged with verl's own
CLI ``python -m verl.model_merger merge --backend fsdp --local_dir ACTOR --target_dir OUT``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

__all__ = ["default_label", "find_fsdp_actor", "is_hf_folder", "read_hf_config", "resolve_model"]

_MERGED_MARK = ".nft_merged_from.json"


def is_hf_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and (
        bool(glob.glob(os.path.join(path, "*.safetensors")))
        or bool(glob.glob(os.path.join(path, "*.bin")))
        or os.path.isfile(os.path.join(path, "model.safetensors.index.json"))
    )


def read_hf_config(path: str) -> dict:
    """``<path>/config.json`` as a dict; an error naming the file when it is missing or not a JSON object."""
    cfg_path = os.path.join(path, "config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"model '{path}' has no config.json") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{cfg_path}: cannot read as JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{cfg_path}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def _is_fsdp_actor(path: str) -> bool:
    return bool(glob.glob(os.path.join(path, "model_world_size_*_rank_0.pt"))) or os.path.isfile(
        os.path.join(path, "fsdp_config.json")
    )


def find_fsdp_actor(path: str) -> str | None:
    """``path`` itself if it is an FSDP actor folder, ``path/actor`` for a ``global_step_N`` folder,
    else None."""
    if _is_fsdp_actor(path):
        return path
    actor = os.path.join(path, "actor")
    if os.path.isdir(actor) and _is_fsdp_actor(actor):
        return actor
    return None


def default_label(path: str) -> str:
    """``<run>/global_step_N`` for checkpoints, the folder name for HF models."""
    p = os.path.normpath(os.path.abspath(path))
    parts = p.split(os.sep)
    if parts[-1] == "actor":
        parts = parts[:-1]
    if re.fullmatch(r"global_step_\d+", parts[-1]) and len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def resolve_model(path: str, merged_dir: str) -> str:
    """HF folder path for ``path``; merges an FSDP checkpoint into ``merged_dir`` (reused if a
    previous merge of the same checkpoint completed)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"model '{path}' does not exist")
    if is_hf_folder(path):
        return path
    actor = find_fsdp_actor(path)
    if actor is None:
        raise ValueError(
            f"model '{path}' is neither a Hugging Face folder (config.json + weights) nor a verl FSDP "
            f"checkpoint (global_step_N or global_step_N/actor with model_world_size_*_rank_*.pt)"
        )
    if not os.path.isdir(os.path.join(actor, "huggingface")):
        raise ValueError(f"FSDP checkpoint '{actor}' lacks the 'huggingface' folder (config + tokenizer) verl saves")
    mark = os.path.join(merged_dir, _MERGED_MARK)
    src = os.path.abspath(actor)
    if os.path.isfile(mark) and is_hf_folder(merged_dir):
        with open(mark) as f:
            if json.load(f).get("source") == src:
                print(f"[nft.eval] reusing merged model {merged_dir} (from {src})", file=sys.stderr)
                return merged_dir
    os.makedirs(merged_dir, exist_ok=True)
    cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
           "--local_dir", src, "--target_dir", os.path.abspath(merged_dir)]
    print(f"[nft.eval] merging FSDP checkpoint: {' '.join(cmd)}", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"verl model merger failed (exit {proc.returncode}) on '{src}':\n{proc.stderr[-3000:]}"
        )
    if not is_hf_folder(merged_dir):
        raise RuntimeError(f"verl model merger exited 0 but '{merged_dir}' holds no Hugging Face model")
    with open(mark, "w") as f:
        json.dump({"source": src}, f)
    return merged_dir
