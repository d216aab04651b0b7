"""NFT policy loss vs verl's ``vanilla`` (PPO-clip) loss: forward + backward time on the same tensors.

    python benchmarks/loss_overhead.py [--batch 64] [--length 4096] [--dtype fp32|bf16] [--device cpu|cuda]

Both losses are called exactly as ``verl/workers/utils/losses.py::ppo_loss`` calls them (registry
lookup, ``ActorConfig``-like config with ``global_batch_info``), on identical log-prob tensors with
~70% valid tokens. Prints the median time of each and their ratio (target <= 1.2x).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from verl.trainer.ppo import core_algos
from verl.utils.config import omega_conf_to_dataclass
from verl.workers.config import ActorConfig

import nft.register  # noqa: F401
from nft.config import NFTPolicyLossConfig


def build_config(loss_mode: str) -> ActorConfig:
    policy_loss = NFTPolicyLossConfig(loss_mode=loss_mode)
    cfg = ActorConfig(strategy="fsdp2", rollout_n=16, ppo_micro_batch_size_per_gpu=1, policy_loss=policy_loss)
    return cfg


def make_inputs(batch: int, length: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=g)
    mask = torch.arange(length)[None] < lengths[:, None]
    old = -torch.rand(batch, length, generator=g) * 3
    new = old + (torch.rand(batch, length, generator=g) - 0.5) * 0.4
    groups = np.array([i // 16 for i in range(batch)], dtype=object)
    correct = torch.rand(batch, generator=g) < 0.4
    rewards = torch.zeros(batch, length)
    rewards[torch.arange(batch), lengths - 1] = correct.float() * 2 - 1
    adv, _ = core_algos.get_adv_estimator_fn("nft")(rewards, mask.float(), None, groups)
    to = dict(device=device)
    return (new.to(dtype=dtype, **to), old.to(dtype=dtype, **to), adv.to(**to), mask.to(**to))


def time_once(fn, cfg, inputs, device: str) -> float:
    new, old, adv, mask = inputs
    lp = new.detach().clone().requires_grad_(True)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    loss, _ = fn(old_log_prob=old, log_prob=lp, advantages=adv, response_mask=mask,
                 loss_agg_mode="token-mean", config=cfg)
    loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_losses(modes: list[str], inputs, repeats: int, device: str) -> dict[str, list[float]]:
    """Alternate the losses call by call so that machine noise hits both alike; 3 warm-up calls each."""
    setups = {}
    for mode in modes:
        cfg = build_config(mode)
        cfg.global_batch_info.update(dp_size=1, batch_num_tokens=int(inputs[3].sum()), global_batch_size=inputs[0].shape[0])
        setups[mode] = (core_algos.get_policy_loss_fn(mode), cfg)
    times = {mode: [] for mode in modes}
    for i in range(repeats + 3):
        for mode in modes:
            t = time_once(*setups[mode], inputs, device)
            if i >= 3:
                times[mode].append(t)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=4096)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    dtype = torch.float32 if args.dtype == "fp32" else torch.bfloat16
    inputs = make_inputs(args.batch, args.length, dtype, args.device)
    times = time_losses(["vanilla", "nft"], inputs, args.repeats, args.device)
    vanilla, nft_t = times["vanilla"], times["nft"]
    v, n = statistics.median(vanilla), statistics.median(nft_t)
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {dev}; tensors {args.batch} x {args.length} {args.dtype}; {len(vanilla)} timed repeats each")
    print(f"vanilla (PPO-clip) forward+backward: median {v * 1e3:8.2f} ms")
    print(f"nft                forward+backward: median {n * 1e3:8.2f} ms")
    print(f"ratio nft / vanilla: {n / v:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
