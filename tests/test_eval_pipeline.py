"""nft.eval end to end on CPU: tiny model -> responses -> verifier -> metrics -> table; resume; errors."""

import glob
import json
import os
import shutil
import sys

import pandas as pd
import pytest

from nft.eval.__main__ import main, parse_n_samples
from nft.eval.benchmarks import load_benchmark_file, resolve_benchmarks
from nft.eval.generate import pick_backend
from nft.eval.model import resolve_model
from nft.eval.score import load_responses_parquet

FIXTURES = os.path.join(os.path.dirname(__file__), "data", "eval", "benchmarks")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from nft.local.tiny_model import build_tiny_model

    return build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "model"), seed=0)


def _gen_args(model, out, *extra):
    return ["--model", model, "--label", "tiny", "--benchmarks", "aime24,math500", "--data-dir", FIXTURES,
            "--n-samples", "aime24=3", "--max-response-length", "12", "--output", str(out), "--no-progress",
            "--backend", "transformers", *extra]  # the vLLM engine: tests/test_eval_vllm_e2e.py


@pytest.fixture(scope="module")
def tiny_run(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", *_gen_args(tiny_model, out, "--reference", "7B")]) == 0
    return out


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def test_run_whole_path_on_tiny_model(tiny_run):
    d = tiny_run / "tiny"
    res = json.loads((d / "results.json").read_text())
    assert res["label"] == "tiny"
    assert list(res["benchmarks"]) == ["aime24", "math500"]
    aime, math500 = res["benchmarks"]["aime24"], res["benchmarks"]["math500"]
    assert aime["column"] == "AIME24" and aime["headline_metric"] == "avg@3"
    assert aime["metrics"]["num_problems"] == 3 and aime["metrics"]["n"] == 3
    assert math500["headline_metric"] == "avg@1" and math500["metrics"]["num_problems"] == 3
    assert res["settings"]["temperature"] == 1.0 and res["settings"]["top_p"] == 0.7  # 7B preset
    assert res["settings"]["max_response_length"] == 12
    assert len(res["problems"]) == 6
    for p in res["problems"]:
        assert len(p["acc"]) == len(p["pred"]) == p["n"] == (3 if p["benchmark"] == "aime24" else 1)
        assert all(t <= 12 for t in p["response_tokens"])
        assert p["avg"] == pytest.approx(sum(p["acc"]) / p["n"])
    # the headline is the mean of the per-problem averages, in percent
    aime_probs = [p for p in res["problems"] if p["benchmark"] == "aime24"]
    assert aime["headline"] == pytest.approx(100 * sum(p["avg"] for p in aime_probs) / 3)
    assert res["average"] == pytest.approx((aime["headline"] + math500["headline"]) / 2)
    df = pd.read_parquet(d / "responses.parquet")
    assert list(df["data_source"]) == ["aime24"] * 3 + ["math500"] * 3
    assert [len(r) for r in df["responses"]] == [3, 3, 3, 1, 1, 1]
    assert df["reward_model"].iloc[0]["ground_truth"] == "204"
    table = (tiny_run / "table.md").read_text()
    assert "| model | AIME24 | MATH500 | AIME25 | AMC23 | Olympiad | Minerva | avg |" in table
    assert "| tiny | " in table and "| paper 7B: + NFT |" in table


def test_score_recomputes_run_results_from_parquet(tiny_run, tmp_path):
    d = tiny_run / "tiny"
    assert main(["score", "--responses", str(d / "responses.parquet"), "--output", str(tmp_path),
                 "--label", "tiny", "--no-progress"]) == 0
    a = json.loads((d / "results.json").read_text())
    b = json.loads((tmp_path / "results.json").read_text())
    assert [(p["problem_id"], p["acc"], p["pred"]) for p in a["problems"]] == \
           [(p["problem_id"], p["acc"], p["pred"]) for p in b["problems"]]
    assert a["benchmarks"]["aime24"]["metrics"] == b["benchmarks"]["aime24"]["metrics"]


def test_generation_resumes_after_interruption(tiny_model, tiny_run, tmp_path, capsys):
    src = tiny_run / "tiny" / "generations.jsonl"
    full = _lines(src)
    assert len(full) == 6
    (tmp_path / "tiny").mkdir()
    # a run killed while writing the third record: two complete records and half a line
    (tmp_path / "tiny" / "generations.jsonl").write_text(full[0] + "\n" + full[1] + "\n" + full[2][: len(full[2]) // 2])
    capsys.readouterr()
    assert main(["generate", *_gen_args(tiny_model, tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "resuming: 2/6 problems already generated" in err
    assert "dropping a partial last record" in err
    again = _lines(tmp_path / "tiny" / "generations.jsonl")
    assert len(again) == 6
    # per-problem seeds: the regenerated problems get exactly the responses of the uninterrupted run
    def by_key(lines):
        return {json.loads(x)["key"]: json.loads(x)["responses"] for x in lines}

    assert by_key(again) == by_key(full)
    # nothing left to do: no model is loaded, nothing appended
    assert main(["generate", *_gen_args(tiny_model, tmp_path)]) == 0
    assert "resuming: 6/6" in capsys.readouterr().err
    assert len(_lines(tmp_path / "tiny" / "generations.jsonl")) == 6
    # other sampling settings are other cache entries
    assert main(["generate", *_gen_args(tiny_model, tmp_path, "--temperature", "0.6")]) == 0
    assert len(_lines(tmp_path / "tiny" / "generations.jsonl")) == 12


def _write_responses(path, rows):
    df = pd.DataFrame(rows)
    df.to_parquet(path)  # read back, list columns become numpy arrays (as from verl's generation)
    return str(path)


HAND_ROWS = [
    {"data_source": "aime24", "prompt": [{"role": "user", "content": "p1"}], "reward_model": {"ground_truth": "204"},
     "responses": ["so \\boxed{204}", "\\boxed{5}", "it is \\boxed{204}", "no final answer"]},
    {"data_source": "aime24", "prompt": [{"role": "user", "content": "p2"}], "reward_model": {"ground_truth": "7"},
     "responses": ["\\boxed{3}", "\\boxed{3}", "\\boxed{7}", "\\boxed{8}"]},
    {"data_source": "math500", "prompt": [{"role": "user", "content": "p3"}],
     "reward_model": {"ground_truth": "\\frac{1}{2}"}, "responses": ["\\boxed{0.5}"]},
    {"data_source": "math500", "prompt": [{"role": "user", "content": "p4"}], "reward_model": {"ground_truth": "3"},
     "responses": ["\\boxed{4}"]},
    # the authors' files repeat a problem on several rows: one problem with the responses of all rows
    {"data_source": "amc2023", "prompt": [{"role": "user", "content": "p5"}], "reward_model": {"ground_truth": "12"},
     "responses": ["\\boxed{12}"]},
    {"data_source": "amc2023", "prompt": [{"role": "user", "content": "p5"}], "reward_model": {"ground_truth": "12"},
     "responses": ["\\boxed{11}"]},
]


def test_score_hand_computed_metrics(tmp_path):
    path = _write_responses(tmp_path / "gen.parquet", HAND_ROWS)
    assert main(["score", "--responses", path, "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    aime = res["benchmarks"]["aime24"]["metrics"]
    assert [p["acc"] for p in res["problems"]] == [[1, 0, 1, 0], [0, 0, 1, 0], [1], [0], [1, 0]]
    assert aime["avg@4"]["value"] == pytest.approx(37.5)  # (2/4 + 1/4) / 2
    assert aime["pass@1"]["value"] == pytest.approx(37.5)
    assert aime["pass@2"]["value"] == pytest.approx(100 * (5 / 6 + 1 / 2) / 2)  # 1-C(2,2)/C(4,2); 1-C(3,2)/C(4,2)
    assert aime["pass@4"]["value"] == pytest.approx(100.0)
    assert aime["maj@4"]["value"] == pytest.approx(50.0)  # p1: 204 (2) beats 5 (1); p2: 3 (2) beats 7 (1)
    assert res["benchmarks"]["math500"]["headline"] == pytest.approx(50.0)
    amc = res["benchmarks"]["amc23"]
    assert amc["column"] == "AMC23" and amc["metrics"]["n"] == 2 and amc["metrics"]["num_problems"] == 1
    assert amc["metrics"]["maj@2"]["value"] == pytest.approx(50.0)  # 12 vs 11: a tie
    assert res["average"] == pytest.approx((37.5 + 50 + 50) / 3)
    assert res["problems"][4]["rows"] == [4, 5]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| gen | 37.5 | 50.0 | – | 50.0 | – | – | 45.8* |" in table


def test_scoring_resumes_without_rescoring(tmp_path, monkeypatch):
    import nft.reward

    path = _write_responses(tmp_path / "gen.parquet", HAND_ROWS)
    calls = []
    real = nft.reward.score_batch

    def counting(sols, gts, **kw):
        calls.append(len(sols))
        return real(sols, gts, **kw)

    monkeypatch.setattr(nft.reward, "score_batch", counting)
    out = tmp_path / "out"
    assert main(["score", "--responses", path, "--output", str(out), "--no-progress"]) == 0
    assert calls == [12]
    first = json.loads((out / "results.json").read_text())
    lines = _lines(out / "scores.jsonl")
    (out / "scores.jsonl").write_text("\n".join(lines[:-2]) + "\n")  # lose the last two problems
    calls.clear()
    assert main(["score", "--responses", path, "--output", str(out), "--no-progress"]) == 0
    assert calls == [1 + 2]  # math500 p4 (1 response) and the merged amc problem (2)
    assert json.loads((out / "results.json").read_text())["benchmarks"] == first["benchmarks"]


def test_fsdp_checkpoint_is_merged_with_verl_merger(tiny_model, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    actor = tmp_path / "ckpts" / "myrun" / "global_step_5" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    # verl's FSDP layout with world size 1 (verl/model_merger/fsdp_model_merger.py reads these files)
    torch.save(model.state_dict(), actor / "model_world_size_1_rank_0.pt")
    (actor / "fsdp_config.json").write_text(json.dumps({"world_size": 1}))
    for f in glob.glob(os.path.join(tiny_model, "*")):
        if not f.endswith(".safetensors"):
            shutil.copy(f, actor / "huggingface")
    out = tmp_path / "out"
    assert main(["run", "--model", str(actor.parent), "--benchmarks", "math500", "--data-dir", FIXTURES,
                 "--limit", "1", "--max-response-length", "4", "--output", str(out), "--no-progress",
                 "--backend", "transformers"]) == 0
    d = out / "myrun__global_step_5"
    res = json.loads((d / "results.json").read_text())
    assert res["label"] == "myrun/global_step_5"
    assert res["hf_model"] == str(d / "merged_hf")
    merged = AutoModelForCausalLM.from_pretrained(d / "merged_hf")
    w0 = model.state_dict()["model.embed_tokens.weight"].to(torch.bfloat16).float()
    assert torch.equal(merged.state_dict()["model.embed_tokens.weight"].float(), w0)
    # a second resolve reuses the merge
    assert resolve_model(str(actor), str(d / "merged_hf")) == str(d / "merged_hf")


def test_backend_choice_message(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as without vLLM (more in tests/test_eval_vllm_backend.py)
    assert pick_backend("auto") == "transformers"
    assert "vLLM is not installed: using the transformers backend" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="vLLM does not import"):
        pick_backend("vllm")


def test_malformed_responses_parquet_errors(tmp_path, capsys):
    ok = {"data_source": "aime24", "reward_model": {"ground_truth": "1"}, "responses": ["a"]}
    p = _write_responses(tmp_path / "nocol.parquet", [{"data_source": "aime24", "reward_model": {"ground_truth": "1"}}])
    with pytest.raises(ValueError, match=r"nocol\.parquet: missing column 'responses'"):
        load_responses_parquet(p)
    p = _write_responses(tmp_path / "none.parquet", [ok, {**ok, "responses": ["x", None]}])
    with pytest.raises(ValueError, match=r"none\.parquet: row 1: column 'responses'\[1\] is NoneType"):
        load_responses_parquet(p)
    p = _write_responses(tmp_path / "empty.parquet", [ok, {**ok, "responses": []}])
    with pytest.raises(ValueError, match=r"row 1: column 'responses' must be a non-empty list"):
        load_responses_parquet(p)
    p = _write_responses(tmp_path / "gt.parquet", [{**ok, "reward_model": {"style": "rule"}}])
    with pytest.raises(ValueError, match=r"gt\.parquet: row 0: column 'reward_model' has no 'ground_truth'"):
        load_responses_parquet(p)
    p = _write_responses(tmp_path / "ds.parquet", [ok, {**ok, "data_source": ""}])
    with pytest.raises(ValueError, match=r"row 1: column 'data_source'"):
        load_responses_parquet(p)
    (tmp_path / "junk.parquet").write_text("not parquet")
    assert main(["score", "--responses", str(tmp_path / "junk.parquet"), "--output", str(tmp_path / "o")]) == 2
    assert "junk.parquet: cannot read as parquet" in capsys.readouterr().err


def test_malformed_benchmark_and_cli_errors(tmp_path, capsys):
    bad = tmp_path / "aime24.jsonl"
    bad.write_text('{"problem": "x", "answer": "1"}\n{"problem": "y", \n')
    with pytest.raises(ValueError, match=r"aime24\.jsonl:2: not valid JSON"):
        load_benchmark_file(str(bad))
    bad.write_text('{"problem": "x"}\n')
    with pytest.raises(ValueError, match=r"aime24\.jsonl:1: missing field 'answer'"):
        load_benchmark_file(str(bad))
    bad.write_text('{"problem": "", "answer": "3"}\n')
    with pytest.raises(ValueError, match=r"aime24\.jsonl:1: field 'problem' must be a non-empty string"):
        load_benchmark_file(str(bad))
    rl = tmp_path / "rl.parquet"
    pd.DataFrame([{"data_source": "math500", "prompt": [{"role": "user", "content": "q"}],
                   "reward_model": {"ground_truth": "1"}},
                  {"data_source": "math500", "prompt": [{"role": "user"}], "reward_model": {"ground_truth": "1"}}]
                 ).to_parquet(rl)
    with pytest.raises(ValueError, match=r"rl\.parquet: row 1: column 'prompt'\[0\] must be a dict"):
        load_benchmark_file(str(rl))
    with pytest.raises(FileNotFoundError, match=r"benchmark 'olympiadbench'.*aime24\.jsonl"):
        resolve_benchmarks(["olympiadbench"], FIXTURES)
    with pytest.raises(ValueError, match="cannot parse 'aime24:3'"):
        parse_n_samples("aime24:3")
    assert parse_n_samples("amc2023=8")("amc23") == 8 and parse_n_samples("amc2023=8")("aime24") == 32
    assert parse_n_samples("paper")("math500") == 1 and parse_n_samples("4")("math500") == 4
    (tmp_path / "notamodel").mkdir()
    assert main(["generate", "--model", str(tmp_path / "notamodel"), "--benchmarks", "math500", "--data-dir",
                 FIXTURES, "--output", str(tmp_path / "o")]) == 2
    assert "neither a Hugging Face folder" in capsys.readouterr().err
    # a corrupt record in the middle of a cache is an error naming file and line, not silently dropped
    from nft.eval.cache import read_records

    cache = tmp_path / "generations.jsonl"
    cache.write_text('{"key": "a"}\n{broken\n{"key": "b"}\n')
    with pytest.raises(ValueError, match=r"generations\.jsonl:2: corrupt cache record"):
        read_records(str(cache))


def test_vllm_branch_chunking_seeds_and_cache(tiny_model, tmp_path, monkeypatch):
    """The vLLM code path of nft.eval.generate with the engine replaced by a recorder (no GPU here):
    chunks of about seqs_per_chunk sequences, one call per distinct k, per-problem seeds, order, cache."""
    import nft.eval.generate as gen
    from nft.eval.benchmarks import load_benchmark_file

    calls, budgets = [], []

    class RecordingEngine:
        def __init__(self, model_path, settings, tp, gmu, max_model_len):
            calls.append(("init", tp, max_model_len))

        def generate_many(self, prompt_ids, n, seeds, max_tokens):
            calls.append(("gen", len(prompt_ids), n))
            budgets.extend((len(ids), mt) for ids, mt in zip(prompt_ids, max_tokens))
            return [[(f"s{sd}-{i}", 3, i == 0) for i in range(n)] for sd in seeds]

    monkeypatch.setattr(gen, "pick_backend", lambda b: "vllm")
    monkeypatch.setattr(gen, "_VLLMBackend", RecordingEngine)
    probs = (load_benchmark_file(os.path.join(FIXTURES, "aime24.jsonl"))
             + load_benchmark_file(os.path.join(FIXTURES, "math500.jsonl")))
    settings = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=512, max_response_length=100)
    def nfun(b):
        return 4 if b == "aime24" else 1

    recs = gen.generate(probs, nfun, tiny_model, settings, str(tmp_path), tensor_parallel_size=2,
                        seqs_per_chunk=9, progress=False)
    # chunks: [a1,a2] (8 seqs), [a3,m1,m2,m3] (4+3 seqs) -> calls split by k within the second chunk
    assert calls[0] == ("init", 2, 512 + 100)  # max_model_len = prompt + response budget
    assert calls[1:] == [("gen", 2, 4), ("gen", 1, 4), ("gen", 3, 1)]
    assert [r["problem_id"] for r in recs] == [p.problem_id for p in probs]
    assert [len(r["responses"]) for r in recs] == [4, 4, 4, 1, 1, 1]
    assert recs[0]["truncated"] == [True, False, False, False]
    seeds = {r["responses"][0].split("-")[0] for r in recs}
    assert len(seeds) == 6  # one seed per problem
    # response budget: the whole context (512 + 100) as in training, at most 100 tokens
    assert len(budgets) == 6 and all(mt == min(100, 612 - n) for n, mt in budgets)
    calls.clear()
    again = gen.generate(probs, nfun, tiny_model, settings, str(tmp_path), progress=False)
    assert calls == [] and [r["responses"] for r in again] == [r["responses"] for r in recs]
    # prompts longer than max_prompt_length keep their text; their budget shrinks; no room is an error
    longest = max(n for n, _ in budgets)
    budgets.clear()
    short = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=longest - 10, max_response_length=30)
    gen.generate(probs, nfun, tiny_model, short, str(tmp_path / "short"), progress=False)
    assert (longest, 20) in budgets
    tiny_ctx = gen.GenSettings(temperature=1.0, top_p=0.7, max_prompt_length=5, max_response_length=5)
    with pytest.raises(ValueError, match=r"aime24\.jsonl:1: prompt of \d+ tokens leaves no room"):
        gen.generate(probs, nfun, tiny_model, tiny_ctx, str(tmp_path / "tiny"), progress=False)


def test_table_command_combines_results(tiny_run, tmp_path, capsys):
    path = _write_responses(tmp_path / "hand.parquet", HAND_ROWS)
    assert main(["score", "--responses", path, "--output", str(tmp_path / "h"), "--label", "hand", "--no-progress"]) == 0
    md = tmp_path / "t.md"
    assert main(["table", str(tiny_run / "tiny" / "results.json"), str(tmp_path / "h" / "results.json"),
                 "--reference", "32B", "--output", str(md)]) == 0
    lines = md.read_text().splitlines()
    assert lines[2].startswith("| tiny | ") and lines[3].startswith("| hand | 37.5 | 50.0 |")
    assert lines[4] == "| paper: Qwen2.5-32B | 4.1 | 68.6 | 1.0 | 45.0 | 31.1 | 27.9 | 29.6 |"
    (tmp_path / "bad.json").write_text("{}")
    capsys.readouterr()
    assert main(["table", str(tmp_path / "bad.json")]) == 2
    assert "bad.json: not an nft.eval results file" in capsys.readouterr().err


def test_score_several_files_benchmark_from_file_name(tmp_path):
    # the authors' flow: one verl generation parquet per benchmark, data_source not telling them apart
    rows = [{"data_source": "math_dapo", "prompt": [{"role": "user", "content": f"q{i}"}],
             "reward_model": {"ground_truth": "5"}, "responses": [r]} for i, r in enumerate(["\\boxed{5}", "\\boxed{6}"])]
    a = _write_responses(tmp_path / "aime2025_32_dapo_boxed_w_answer_max4096_@1.parquet", rows)
    b = _write_responses(tmp_path / "math500_boxed_max4096_@1.parquet", rows[:1])
    out = tmp_path / "out"
    assert main(["score", "--responses", a, "--responses", b, "--benchmark-from", "file", "--output", str(out),
                 "--label", "authors", "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert {k: v["headline"] for k, v in res["benchmarks"].items()} == {"aime25": 50.0, "math500": 100.0}
    assert "| authors | – | 100.0 | 50.0 | – | – | – | 75.0* |" in (out / "table.md").read_text()


def test_benchmark_of_a_row(tmp_path):
    base = {"reward_model": {"ground_truth": "1"}, "responses": ["\\boxed{1}"]}
    p = _write_responses(tmp_path / "aime2025_x.parquet", [
        {**base, "data_source": "my_aime_2024_copy", "extra_info": {"benchmark": "aime25", "problem_id": "x"}},
        {**base, "data_source": "minerva_math", "extra_info": {"benchmark": "", "problem_id": "y"}},
    ])
    assert [r["benchmark"] for r in load_responses_parquet(p)] == ["aime25", "minerva"]  # extra_info, data_source
    assert [r["benchmark"] for r in load_responses_parquet(p, "amc23")] == ["amc23", "amc23"]
