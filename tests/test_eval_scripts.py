"""eval_local_7B.sh / eval_local_32B.sh: paper settings per size, pass-through options, a real CPU run."""

import json
import os
import subprocess
import sys

import pytest

from nft.eval.__main__ import _settings, build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "data", "eval", "benchmarks")


def _run(script, *args, **env):
    return subprocess.run(["bash", os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable, **env}, timeout=300)


@pytest.mark.parametrize("script,preset,tp,temp,prompt,resp", [
    ("eval_local_7B.sh", "7B", "1", 1.0, 512, 3584),
    ("eval_local_32B.sh", "32B", "4", 0.6, 2048, 14336),
])
def test_dry_run_command_has_paper_settings(script, preset, tp, temp, prompt, resp):
    p = _run(script, "ckpts/run/global_step_10", "/models/base", "--label", "a", "--label", "b", DRY_RUN="1")
    assert p.returncode == 0, p.stderr
    argv = p.stdout.split()
    assert argv[1:4] == ["-m", "nft.eval", "run"]
    assert argv[argv.index("--preset") + 1] == preset and argv[argv.index("--tp") + 1] == tp
    assert argv[argv.index("--reference") + 1] == preset
    assert [argv[i + 1] for i, x in enumerate(argv) if x == "--model"] == ["ckpts/run/global_step_10", "/models/base"]
    # what the preset resolves to in nft.eval (arXiv 2505.18116: top-p 0.7, T 1.0 for 7B / 0.6 for 32B)
    a = build_parser().parse_args(argv[3:])
    s = _settings(a)
    assert (s.temperature, s.top_p, s.max_prompt_length, s.max_response_length) == (temp, 0.7, prompt, resp)


def test_usage_error_without_model():
    p = _run("eval_local_7B.sh")
    assert p.returncode == 2 and "usage: bash eval_local_7B.sh MODEL_OR_CHECKPOINT" in p.stderr


def test_script_runs_on_cpu_with_tiny_model(tmp_path):
    from nft.local.tiny_model import build_tiny_model

    model = build_tiny_model(str(tmp_path / "tiny"))
    out = tmp_path / "out"
    p = _run("eval_local_7B.sh", model, "--label", "tiny", "--limit", "2", "--max-response-length", "4",
             "--no-progress", "--batch-size", "32", "--backend", "transformers",  # vLLM: tests/test_eval_vllm_e2e.py
             DATA_DIR=FIXTURES, OUTPUT=str(out), BENCHMARKS="amc2023,math500")
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads((out / "tiny" / "results.json").read_text())
    assert res["backends"] == ["transformers"]
    assert res["settings"]["temperature"] == 1.0 and res["settings"]["max_prompt_length"] == 512
    assert res["settings"]["max_response_length"] == 4
    assert res["benchmarks"]["amc23"]["headline_metric"] == "avg@32"  # paper k for AMC23
    assert res["benchmarks"]["math500"]["headline_metric"] == "avg@1"
    assert "| paper 7B: + NFT |" in (out / "table.md").read_text()
    assert "| tiny |" in p.stdout


@pytest.mark.parametrize("script,size,temp,prompt,resp", [
    ("eval_local_7B.sh", "7B", 1.0, 1024, 7168),   # NVlabs/NFT eval_local_7B.sh:3-9
    ("eval_local_32B.sh", "32B", 0.6, 512, 3584),  # NVlabs/NFT eval_local_32B.sh:3-9
])
def test_authors_settings(script, size, temp, prompt, resp):
    p = _run(script, "/models/base", DRY_RUN="1", PRESET="authors")
    assert p.returncode == 0, p.stderr
    argv = p.stdout.split()
    assert argv[argv.index("--settings") + 1] == "authors"
    assert argv[argv.index("--output") + 1] == f"eval_results/{size}-authors"
    assert argv[argv.index("--reference") + 1] == size
    s = _settings(build_parser().parse_args(argv[3:]))
    assert (s.temperature, s.top_p, s.max_prompt_length, s.max_response_length) == (temp, 0.7, prompt, resp)
    paper = _run(script, "/models/base", DRY_RUN="1").stdout.split()
    assert paper[paper.index("--settings") + 1] == "paper"
    bad = _run(script, "/models/base", DRY_RUN="1", PRESET="paperz")
    assert bad.returncode == 2 and "PRESET=paperz is not one of paper, authors, authors-by-path" in bad.stderr
    # the other reading of their scripts: the settings of the file whose save_path names this size
    other = {"7B": (0.6, 512, 3584), "32B": (1.0, 1024, 7168)}[size]
    byp = _run(script, "/models/base", DRY_RUN="1", PRESET="authors-by-path").stdout.split()
    assert byp[byp.index("--output") + 1] == f"eval_results/{size}-authors-by-path"
    s = _settings(build_parser().parse_args(byp[3:]))
    assert (s.temperature, s.max_prompt_length, s.max_response_length) == other


def test_table_names_the_settings(tmp_path):
    from nft.local.tiny_model import build_tiny_model

    model = build_tiny_model(str(tmp_path / "tiny"))
    out = tmp_path / "out"
    p = _run("eval_local_7B.sh", model, "--label", "tiny", "--limit", "1", "--max-response-length", "4",
             "--n-samples", "2", "--no-progress", "--backend", "transformers", PRESET="authors", DATA_DIR=FIXTURES,
             OUTPUT=str(out),
             BENCHMARKS="math500")
    assert p.returncode == 0, p.stderr[-2000:]
    line = ("Settings: authors + --max-response-length 7B (NVlabs/NFT eval_local_7B.sh:3-9): temperature 1, "
            "top-p 0.7, prompt 1024 + response 4 tokens, seed 0.")
    assert line in (out / "table.md").read_text()
    assert line in (out / "tiny" / "table.md").read_text()
    assert line in p.stdout
    res = json.loads((out / "tiny" / "results.json").read_text())
    assert res["settings_name"] == "authors + --max-response-length" and res["settings"]["max_prompt_length"] == 1024
