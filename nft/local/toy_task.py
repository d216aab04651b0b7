"""A verifiable toy task for the CPU quickstart: "repeat the digit", with a weak tiny policy.

Task (``data_source = "nft_toy/copy_digit"``): the user message is ``"Repeat the digit: d d d d d d"``
with ``d`` drawn uniformly from ``{0, ..., k-1}`` (default ``k = 4``); the answer is ``d``. The verifier
(:func:`compute_score`, same interface and result keys as the math verifier :mod:`nft.reward`)
extracts the first decimal digit of the response: ``score = +1`` and ``acc = 1`` if it equals the
ground truth, else ``score = -1``, ``acc = 0`` (no digit: wrong, ``pred = ""``). It never raises.

Policy (:func:`build_quickstart_model`): the random tiny Qwen2 of :mod:`nft.local.tiny_model`, then a
supervised warm start on the task that is *stopped early*, at the first step where the policy's mean
probability of the right digit reaches ``target`` (default 0.3; chance among the k digits is 0.25):
a weak "base model" whose sampled answers are right about 30% of the time, so groups of answers are
mixed from the first RL step, and any rise is RL's doing. (A warm start on random answers, i.e. the
format alone, leaves a policy that ignores its prompt; RL does not escape that point in 20 steps.)
:func:`warmup_report` measures the starting point.

Data (:func:`build_parquet`): verl's RL format — ``prompt`` (chat list), ``data_source``,
``ability``, ``reward_model`` (``style``, ``ground_truth``), ``extra_info`` (``index``, ``split``);
validation prompts are balanced over the k digits.

CLI::

    python -m nft.local.toy_task build OUT_DIR [--k 4] [--seed 0] [--target 0.3] [--n-train 512] [--n-val 64]

writes ``OUT_DIR/model`` and ``OUT_DIR/data/{train,val}.parquet`` and prints the starting policy's
greedy and sampled accuracy on the k prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from typing import Any

DATA_SOURCE = "nft_toy/copy_digit"
ABILITY = "toy"
_DIGIT = re.compile(r"\d")


REPEATS = 6


def prompt_text(d: int) -> str:
    """``"Repeat the digit: d d d d d d"`` (the digit repeated :data:`REPEATS` times)."""
    return "Repeat the digit: " + " ".join([str(d)] * REPEATS)


def compute_score(data_source: str, solution_str: Any, ground_truth: Any, extra_info: Any = None, **kwargs) -> dict:
    """``{"score": ±1.0, "acc": 1.0/0.0, "pred": str, "has_answer": bool}``; never raises.

    ``pred`` is the first decimal digit in ``solution_str``; correct iff it equals
    ``str(ground_truth).strip()``.
    """
    try:
        text = solution_str if isinstance(solution_str, str) else str(solution_str)
        m = _DIGIT.search(text)
        pred = m.group(0) if m else ""
        gt = str(ground_truth).strip()
        ok = bool(pred) and pred == gt
    except Exception:  # a reward function must never raise (it drops the sample in verl)
        pred, ok = "", False
    return {"score": 1.0 if ok else -1.0, "acc": 1.0 if ok else 0.0, "pred": pred, "has_answer": bool(pred)}


def compute_score_float(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    return compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)["score"]


def compute_score_truncated_negative(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """:func:`compute_score` with truncated responses scored -1 (:func:`nft.reward.truncation.negative_if_truncated`)."""
    from nft.reward.truncation import negative_if_truncated

    return negative_if_truncated(compute_score)(data_source, solution_str, ground_truth, extra_info, **kwargs)


def make_rows(n: int, k: int, seed: int, split: str) -> list[dict]:
    if not 2 <= k <= 10:
        raise ValueError(f"k={k}: the number of digits must be in [2, 10]")
    if n < 1:
        raise ValueError(f"n={n}: need at least one {split} row")
    rng = random.Random(f"{seed}-{split}")
    rows = []
    for i in range(n):
        d = i % k if split == "val" else rng.randrange(k)  # val: balanced over digits
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": prompt_text(d)}],
                "ability": ABILITY,
                "reward_model": {"style": "rule", "ground_truth": str(d)},
                "extra_info": {"index": i, "split": split},
            }
        )
    return rows


def build_parquet(out_dir: str, *, k: int = 4, n_train: int = 512, n_val: int = 64, seed: int = 0) -> dict:
    """Write ``train.parquet`` and ``val.parquet`` to ``out_dir``; return their paths."""
    import pandas as pd

    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for split, n in (("train", n_train), ("val", n_val)):
        path = os.path.join(out_dir, f"{split}.parquet")
        pd.DataFrame(make_rows(n, k, seed, split)).to_parquet(path, index=False)
        paths[split] = path
    return paths


def _chat_ids(tok, d: int) -> list[int]:
    ids = tok.apply_chat_template(
        [{"role": "user", "content": prompt_text(d)}], add_generation_prompt=True, tokenize=True
    )
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def _p_correct(model, prompts: dict, digit_ids: list[int]) -> float:
    """Mean over the k prompts of the policy's probability (T=1) that its first token is the right digit."""
    import torch

    k = len(digit_ids)
    with torch.no_grad():
        probs = model(torch.tensor([prompts[d] for d in range(k)])).logits[:, -1].float().softmax(-1)
    return float(sum(probs[d, digit_ids[d]] for d in range(k)) / k)


def warm_start(
    model_dir: str, *, k: int = 4, target: float = 0.3, max_steps: int = 200, batch: int = 32, lr: float = 3e-3,
    seed: int = 0,
) -> dict:
    """Supervised warm start in place, stopped early: train on ``"Repeat the digit: d ..."`` ->
    ``d<|im_end|>`` (AdamW, cross-entropy on the answer digit and EOS) and stop at the first step where
    the policy's mean probability of answering the right digit (:func:`_p_correct`) reaches ``target``.

    The result is a weak policy (right about ``target`` of the time when sampling at T=1, often
    answering out of range or not at all) that RL must sharpen: what the quickstart measures.
    Deterministic for a given seed. Raises ``RuntimeError`` if ``target`` is not reached in
    ``max_steps`` steps.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not 0.0 < target < 1.0:
        raise ValueError(f"target={target}: the starting accuracy must be in (0, 1)")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    digit_ids = [tok.convert_tokens_to_ids(str(e)) for e in range(k)]
    prompts = {d: _chat_ids(tok, d) for d in range(k)}
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    p = _p_correct(model, prompts, digit_ids)
    step = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        while p < target:
            if step >= max_steps:
                raise RuntimeError(f"warm start: p(correct)={p:.3f} < target {target} after {max_steps} steps")
            ds = torch.randint(0, k, (batch,), generator=g).tolist()
            ids = torch.tensor([prompts[d] + [digit_ids[d], eos] for d in ds])  # all prompts have one length
            labels = torch.full_like(ids, -100)
            labels[:, -2:] = ids[:, -2:]
            model.train()
            loss = model(input_ids=ids, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.eval()
            step += 1
            p = _p_correct(model, prompts, digit_ids)
    model.save_pretrained(model_dir)
    return {"warm_start_steps": step, "p_correct": p, "target": target, "k": k}


def warmup_report(model_dir: str, *, k: int = 4, samples: int = 64, seed: int = 0) -> dict:
    """Greedy accuracy over the k prompts, and sampled (T=1) accuracy / in-range-answer rate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    greedy_ok, sampled_ok, in_range, total = 0, 0, 0, 0
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for d in range(k):
            ids = torch.tensor([_chat_ids(tok, d)])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False,
                                 eos_token_id=eos, pad_token_id=tok.pad_token_id)
            greedy_ok += compute_score(DATA_SOURCE, tok.decode(out[0, ids.shape[1]:]), d)["acc"]
            n = max(1, samples // k)
            out = model.generate(ids.repeat(n, 1), attention_mask=torch.ones_like(ids.repeat(n, 1)), max_new_tokens=4,
                                 do_sample=True, temperature=1.0, top_k=0, top_p=1.0, eos_token_id=eos,
                                 pad_token_id=tok.pad_token_id)
            for row in out[:, ids.shape[1]:]:
                r = compute_score(DATA_SOURCE, tok.decode(row, skip_special_tokens=True), d)
                sampled_ok += r["acc"]
                in_range += r["pred"] != "" and int(r["pred"]) < k
                total += 1
    return {"greedy_acc": greedy_ok / k, "sampled_acc": sampled_ok / total, "sampled_in_range": in_range / total}


def build_quickstart_model(out_dir: str, *, k: int = 4, seed: int = 0, target: float = 0.3, **model_overrides) -> dict:
    """Random tiny Qwen2 (nft.local.tiny_model) + :func:`warm_start`; returns a summary dict."""
    from nft.local.tiny_model import build_tiny_model

    build_tiny_model(out_dir, seed=seed, **model_overrides)
    info = warm_start(out_dir, k=k, target=target, seed=seed)
    with open(os.path.join(out_dir, "toy_task.json"), "w") as f:
        json.dump({"task": DATA_SOURCE, **info, "seed": seed}, f, indent=1)
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nft.local.toy_task")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the warmed tiny model and the train/val parquet files")
    b.add_argument("out_dir")
    b.add_argument("--k", type=int, default=4)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--n-train", type=int, default=512)
    b.add_argument("--n-val", type=int, default=64)
    b.add_argument("--target", type=float, default=0.3, help="starting p(correct) of the warm start")
    b.add_argument("--hidden-size", type=int, default=None)
    b.add_argument("--num-layers", type=int, default=None)
    a = p.parse_args(argv)
    ov = {}
    if a.hidden_size:
        ov.update(hidden_size=a.hidden_size, intermediate_size=2 * a.hidden_size)
    if a.num_layers:
        ov["num_hidden_layers"] = a.num_layers
    model_dir = os.path.join(a.out_dir, "model")
    info = build_quickstart_model(model_dir, k=a.k, seed=a.seed, target=a.target, **ov)
    paths = build_parquet(os.path.join(a.out_dir, "data"), k=a.k, n_train=a.n_train, n_val=a.n_val, seed=a.seed)
    rep = warmup_report(model_dir, k=a.k, seed=a.seed)
    print(f"toy task: model {model_dir} (warm start: {info['warm_start_steps']} supervised steps, "
          f"p(correct) {info['p_correct']:.3f}), data {paths['train']} {paths['val']}")
    print(f"toy task: starting policy greedy acc {rep['greedy_acc']:.2f}, sampled acc {rep['sampled_acc']:.2f} "
          f"(chance {1 / a.k:.2f}), answers in range {rep['sampled_in_range']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
