"""The DRY_RUN=1 output of every training script x ALGO x PRESET (and the off-policy, LoRA, submit and
override variants), normalised, as recorded from the bash recipes at commit d93c917 before they became
Hydra config groups: ``tests/data/recipes/dry_run_golden.json.gz``. ``test_recipes_golden.py`` compares
today's output with it."""

from __future__ import annotations

import gzip
import json
import pathlib
import re

GOLDEN = pathlib.Path(__file__).parent / "data" / "recipes" / "dry_run_golden.json.gz"
_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]\[")
_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning: ")
_SUBMIT = "DRY_RUN: would submit: "

#: name -> (script, environment, extra arguments), as recorded
CASES: dict[str, tuple[str, dict, list]] = {
    f"{script.rsplit('/', 1)[-1][:-3]}-{algo}-{preset}": (script, {"ALGO": algo, "PRESET": preset}, [])
    for script in ("train_7B.sh", "train_32B.sh", "recipes/train_32B_megatron.sh")
    for algo in ("nft", "rft", "dapo", "grpo", "drgrpo")
    for preset in ("paper", "authors")
}
CASES.update({
    "train_7B-nw0": ("train_7B.sh", {"NEG_WEIGHT": "0"}, []),
    "train_7B-nwm1": ("train_7B.sh", {"NEG_WEIGHT": "-1"}, []),
    "train_7B-norm2": ("train_7B.sh", {"NORMALIZE": "2"}, []),
    "train_7B-rft-norm1": ("train_7B.sh", {"ALGO": "rft", "NORMALIZE": "1"}, []),
    "train_7B-bypass": ("train_7B.sh", {"BYPASS": "1"}, []),
    "train_7B-colocate": ("train_7B.sh", {"BYPASS": "1", "TRAINER_MODE": "colocate_async"}, []),
    "train_7B-separate": ("train_7B.sh", {"BYPASS": "1", "TRAINER_MODE": "separate_async"}, [
        "actor_rollout_ref.rollout.nnodes=1", "actor_rollout_ref.rollout.n_gpus_per_node=8",
        "actor_rollout_ref.rollout.checkpoint_engine.backend=nccl", "trainer.v1.separate_async.parameter_sync_step=16"]),
    "train_7B-submit": ("train_7B.sh", {"SUBMIT": "1", "NNODES": "4"}, []),
    "train_32B-submit-authors": ("train_32B.sh", {"SUBMIT": "1", "PRESET": "authors"}, []),
    "train_7B-logger": ("train_7B.sh", {"LOGGER": "wandb,tensorboard"}, []),
    "train_7B-override": ("train_7B.sh", {}, ["actor_rollout_ref.actor.policy_loss.clamp_negative=0.5"]),
})


def normalize(text: str, root: str) -> str:
    """Drop log records and Python warnings (timestamps, file:line of the caller), write ``root`` as
    <ROOT>, and keep of a submit line its runtime environment (the command after `` -- `` names the
    Hydra overrides, which the config groups changed on purpose)."""
    out, skip_next = [], False
    for line in text.splitlines():
        if skip_next:
            skip_next = False
            if line.startswith("  "):
                continue
        if _LOG_LINE.match(line):
            continue
        if _WARNING.match(line):
            skip_next = True
            continue
        if line.startswith(_SUBMIT):
            line = line.split(" -- ", 1)[0] + " -- <command>"
        out.append(line.replace(root, "<ROOT>"))
    return "\n".join(out).rstrip() + "\n"


def load() -> dict[str, str]:
    return json.loads(gzip.decompress(GOLDEN.read_bytes()))
