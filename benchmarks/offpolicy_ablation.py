"""NFT vs GRPO off-policy on the toy task through verl 0.9.1's real CPU loop (docs/off_policy.md).

    python benchmarks/offpolicy_ablation.py [--steps 10] [--seeds 1 2] [--lock FILE] [--workdir DIR]

Variants (each for ALGO=nft and ALGO=grpo, same seeds, steps, model and data):

* ``updates=1|4|16``: sync mode, ``data.train_batch_size=16`` prompts per step split into 1, 4 or 16
  mini-batches (``actor.ppo_mini_batch_size`` 16, 4, 1), so the later updates of a step train on answers
  of a policy that has already moved (NFT: its ratio and its negative clamp; GRPO: PPO's clip);
* ``colocate_async``: ``TRAINER_MODE=colocate_async BYPASS=1`` (one batch generated ahead, old = rollout
  policy), 4 updates per step;
* ``separate_async``: ``TRAINER_MODE=separate_async BYPASS=1``: verl's standalone rollout replica on a
  second logical GPU next to the colocated one, weights sent by the ``nft_tcp`` checkpoint engine once per
  step, partial rollouts; 4 updates per step (``parameter_sync_step=4``).

Dynamic sampling is off, so every step trains on exactly one batch. For each run: validation accuracy
before and after, and "stable" = every logged loss and grad-norm finite and the last validation accuracy
not below the first by more than 0.1. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from nft.plot import read_steps  # verl's file-logger records (one per step)

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {  # name -> (extra environment, Hydra overrides)
    "updates=1": ({}, ["actor_rollout_ref.actor.ppo_mini_batch_size=16"]),
    "updates=4": ({}, ["actor_rollout_ref.actor.ppo_mini_batch_size=4"]),
    "updates=16": ({}, ["actor_rollout_ref.actor.ppo_mini_batch_size=1",
                        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8"]),
    "colocate_async": ({"TRAINER_MODE": "colocate_async", "BYPASS": "1"},
                       ["actor_rollout_ref.actor.ppo_mini_batch_size=4"]),
    "separate_async": ({"TRAINER_MODE": "separate_async", "BYPASS": "1"},
                       ["actor_rollout_ref.actor.ppo_mini_batch_size=4",
                        "trainer.v1.separate_async.parameter_sync_step=4"]),
}
COMMON = ["data.train_batch_size=16", "algorithm.filter_groups.enable=false", "trainer.save_freq=-1",
          "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=32"]


def run(algo: str, variant: str, seed: int, args, workdir: Path) -> dict:
    extra_env, overrides = VARIANTS[variant]
    name = f"{algo}-{variant.replace('=', '')}-s{seed}"
    env = dict(os.environ)
    env.update(ALGO=algo, SEED=str(seed), STEPS=str(args.steps), QUICKSTART_DIR=str(workdir), RUN_NAME=name,
               PYTHON=env.get("PYTHON", sys.executable), **extra_env)
    lock = ["flock", args.lock] if args.lock else []
    # later overrides win: the variant's micro-batch size replaces the common one
    cmd = [*lock, "bash", str(REPO / "recipes" / "quickstart_cpu.sh"), *COMMON, *overrides]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, start_new_session=True)
    out = {"algo": algo, "variant": variant, "seed": seed, "ok": proc.returncode == 0}
    if proc.returncode != 0:
        out["error"] = (proc.stdout + proc.stderr)[-600:]
        return out
    m = re.search(r"quickstart: accuracy (\S+) -> (\S+) in (\d+) s", proc.stdout)
    steps = read_steps(str(workdir / name / "metrics.jsonl"))
    train = [s for s in steps if "actor/grad_norm" in s]
    finite = all(math.isfinite(s.get("actor/pg_loss", 0.0)) and math.isfinite(s["actor/grad_norm"]) for s in train)
    before, after = (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))
    out.update(before=before, after=after, wall_s=int(m.group(3)) if m else None, finite=finite,
               stable=finite and after >= before - 0.1,
               grad_norm_max=max((s["actor/grad_norm"] for s in train), default=float("nan")),
               neg_clamped=statistics.mean(s["actor/nft/neg_clamped_frac"] for s in train)
               if algo == "nft" and train else None,
               log_ratio_std=max(s["actor/nft/log_ratio_std"] for s in train) if algo == "nft" and train else None)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--algos", nargs="+", default=["nft", "grpo"], choices=["nft", "grpo"])
    p.add_argument("--lock", default=None, help="run each quickstart under `flock LOCK` (to share a machine)")
    p.add_argument("--workdir", default=None)
    p.add_argument("--json", default=None, help="also write every run's result here")
    p.add_argument("--resume", action="store_true", help="keep the successful runs already in --json")
    args = p.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nft-offpolicy-ablation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    if args.json and args.resume and Path(args.json).exists():
        results = [r for r in json.loads(Path(args.json).read_text()) if r.get("ok")]
    done = {(r["algo"], r["variant"], r["seed"]) for r in results}
    for variant in args.variants:
        for seed in args.seeds:
            for algo in args.algos:
                if (algo, variant, seed) in done:
                    continue
                r = run(algo, variant, seed, args, workdir)
                results.append(r)
                print(json.dumps(r), flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\n| variant | algo | seeds | val. accuracy before -> after (per seed) | stable | max grad norm | "
          f"NFT: neg. tokens at eps (mean) | NFT: max std log R |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in args.variants:
        for algo in args.algos:
            rs = [r for r in results if r["variant"] == variant and r["algo"] == algo]
            if not rs:
                continue
            if not all(r["ok"] for r in rs):
                print(f"| {variant} | {algo} | {len(rs)} | FAILED: {[r.get('error', '')[-120:] for r in rs if not r['ok']]} "
                      "| | | | |")
                continue
            accs = ", ".join(f"{r['before']:.3f} -> {r['after']:.3f}" for r in rs)
            stable = "yes" if all(r["stable"] for r in rs) else "no"
            gmax = max(r["grad_norm_max"] for r in rs)
            nc = f"{statistics.mean(r['neg_clamped'] for r in rs):.2f}" if algo == "nft" else ""
            ls = f"{max(r['log_ratio_std'] for r in rs):.3f}" if algo == "nft" else ""
            print(f"| {variant} | {algo} | {len(rs)} | {accs} | {stable} | {gmax:.2f} | {nc} | {ls} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
