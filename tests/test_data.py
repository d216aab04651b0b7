"""nft.data: conversion into verl RL parquet, dedup, bad rows, hub probe, 32B chat-template patch."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from nft import data as D

REPO = pathlib.Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "data" / "recipes"
DAPO = FIX / "dapo-math-17k.parquet"  # 8 problems x 3 copies + bad rows at 5, 12, 20 (make_fixtures.py)


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_dapo_fixture_dedup_with_skip_bad(tmp_path):
    out = tmp_path / "train.parquet"
    st = D.convert_file(DAPO, out, skip_bad=True)
    assert (st.rows_in, st.rows_out, st.duplicates, st.bad) == (27, 8, 16, 3)
    rows = _rows(out)
    assert [r["extra_info"]["index"] for r in rows] == list(range(8))
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["1", "3", "5", "7", "9", "11", "13", "-7"]
    # first occurrences: source rows 0..4 then 6, 7, 8 (row 5 is bad)
    assert [r["extra_info"]["source_row"] for r in rows] == [0, 1, 2, 3, 4, 6, 7, 8]
    r0 = rows[0]
    assert r0["data_source"] == "math_dapo" and r0["ability"] == "MATH"
    assert r0["extra_info"]["split"] == "train"
    assert r0["prompt"] == [{"role": "user", "content": D.DAPO_PREFIX + "What is 0 + 1?" + D.DAPO_SUFFIX}]
    assert D.validate_file(out) == 8


@pytest.mark.parametrize(
    "skip_rows,expected",
    [
        ((), "row 5: missing answer"),
        # with earlier bad rows removed, the later ones move up
        ((5,), "row 11: prompt is an empty list"),
        ((5, 12), "row 18: prompt has no non-empty user message"),
    ],
)
def test_bad_row_error_names_file_and_row(tmp_path, skip_rows, expected):
    import pyarrow as pa

    src = DAPO
    if skip_rows:
        rows = [r for i, r in enumerate(_rows(DAPO)) if i not in skip_rows]
        src = tmp_path / "dapo-math-17k.parquet"
        pq.write_table(pa.Table.from_pylist(rows), src)
    with pytest.raises(D.BadRowError) as e:
        D.convert_file(src, tmp_path / "o.parquet")
    assert str(src) in str(e.value) and expected in str(e.value)
    assert not (tmp_path / "o.parquet").exists()


def test_jsonl_bad_rows_each_named(tmp_path):
    src = FIX / "bad_rows.jsonl"
    st = D.convert_file(src, tmp_path / "o.parquet", skip_bad=True, data_source="toy")
    assert (st.rows_in, st.rows_out, st.bad) == (6, 2, 4)
    msgs = "\n".join(st.bad_examples)
    for piece in ("line 2: empty or non-string answer", "line 3: prompt must be a list",
                  "line 4: missing answer", "line 5: invalid JSON"):
        assert piece in msgs
    rows = _rows(tmp_path / "o.parquet")
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["2", "6"]  # integer answer -> "6"
    assert {r["data_source"] for r in rows} == {"toy"}
    with pytest.raises(D.BadRowError, match=r"bad_rows.jsonl: line 2"):
        D.convert_file(src, tmp_path / "o2.parquet")


def test_jsonl_benchmarks_keep_and_templates(tmp_path):
    src = FIX / "aime24.jsonl"
    lines = [json.loads(x) for x in src.read_text().splitlines()]
    D.convert_file(src, tmp_path / "k.parquet")
    keep = _rows(tmp_path / "k.parquet")
    assert len(keep) == 4 and keep[0]["data_source"] == "aime24" and keep[0]["extra_info"]["split"] == "test"
    assert [r["prompt"][0]["content"] for r in keep] == [x["problem"] for x in lines]
    assert [r["reward_model"]["ground_truth"] for r in keep] == [x["answer"] for x in lines]

    D.convert_file(src, tmp_path / "d.parquet", template="dapo")
    core = lines[0]["problem"][: -len(D.BOXED_SUFFIX)]
    assert lines[0]["problem"].endswith(D.BOXED_SUFFIX)
    assert _rows(tmp_path / "d.parquet")[0]["prompt"][0]["content"] == D.DAPO_PREFIX + core + D.DAPO_SUFFIX
    # DAPO prompts re-templated to boxed
    D.convert_file(DAPO, tmp_path / "b.parquet", template="boxed", skip_bad=True)
    assert _rows(tmp_path / "b.parquet")[0]["prompt"][0]["content"] == "What is 0 + 1?" + D.BOXED_SUFFIX
    assert D.infer_data_source(pathlib.Path("minervamath.jsonl")) == "minerva"
    assert D.infer_data_source(pathlib.Path("amc2023.jsonl")) == "amc23"


def test_verl_rl_dataset_reads_output(tmp_path):
    """verl's own RLHFDataset loads the converted file (chat list prompt) with a ChatML tokenizer."""
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from nft.local.tiny_model import build_tiny_model

    model = build_tiny_model(str(tmp_path / "m"))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    D.convert_file(FIX / "math500.jsonl", tmp_path / "math500.parquet")
    cfg = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 4096, "filter_overlong_prompts": False,
                            "truncation": "error", "return_raw_chat": True})
    ds = RLHFDataset(data_files=[str(tmp_path / "math500.parquet")], tokenizer=tok, config=cfg)
    assert len(ds) == 4
    item = ds[1]
    assert item["data_source"] == "math500"
    assert item["reward_model"]["ground_truth"] == json.loads((FIX / "math500.jsonl").read_text().splitlines()[1])["answer"]
    assert item["extra_info"]["index"] == 1


def test_cli_converts_and_prints_counts(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "nft.data", "convert", str(DAPO), str(FIX / "minervamath.jsonl"),
         "--out-dir", str(tmp_path), "--skip-bad"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert r.returncode == 0, r.stderr
    assert f"{tmp_path}/dapo-math-17k.parquet: 8 rows (read 27, duplicates removed 16, bad rows skipped 3)" in r.stdout
    assert f"{tmp_path}/minervamath.parquet: 3 rows (read 3" in r.stdout
    r = subprocess.run([sys.executable, "-m", "nft.data", "convert", str(DAPO), "--out-dir", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and "row 5: missing answer" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "nft.data", "convert", str(DAPO), "--out-dir", str(tmp_path / "y"),
                        "--skip-bad", "--no-dedup", "--name-map", "dapo-math-17k.parquet=train.parquet"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert f"{tmp_path}/y/train.parquet: 24 rows (read 27, duplicates removed 0, bad rows skipped 3)" in r.stdout


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_download_data_fails_fast_without_network(tmp_path):
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", PYTHON=sys.executable,
               DATA_DIR=str(tmp_path / "data"))
    env.pop("HF_HUB_OFFLINE", None)
    r = subprocess.run(["bash", str(REPO / "download_data.sh")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path, check=False)
    assert r.returncode != 0
    assert "cannot reach the Hugging Face Hub at http://127.0.0.1:" in r.stderr
    assert not (tmp_path / "data" / "raw").exists()
    r = subprocess.run(["bash", str(REPO / "download_model.sh")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path, check=False)
    assert r.returncode != 0 and "cannot reach the Hugging Face Hub" in r.stderr


def test_download_data_offline_conversion(tmp_path):
    """SKIP_DOWNLOAD=1 converts what is in $DATA_DIR/raw (layout of the Hub downloads + raw/jsonl)."""
    raw = tmp_path / "data" / "raw"
    (raw / "DAPO-Math-17k" / "data").mkdir(parents=True)
    shutil.copy(DAPO, raw / "DAPO-Math-17k" / "data" / "dapo-math-17k.parquet")
    (raw / "jsonl").mkdir()
    shutil.copy(FIX / "aime24.jsonl", raw / "jsonl")
    # an authors'-style presorted file (verl format) in a subfolder of the Hub snapshot
    D.convert_file(FIX / "math500.jsonl", raw / "VeRL_math_validation" / "sub" / "math500_boxed.parquet")
    env = dict(os.environ, SKIP_DOWNLOAD="1", SKIP_BAD="1", PYTHON=sys.executable, DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run(["bash", str(REPO / "download_data.sh")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    assert "dapo-math-17k.parquet: 8 rows" in r.stdout and "aime24.parquet: 4 rows" in r.stdout
    assert f"{tmp_path}/data/math500_boxed.parquet: 4 rows" in r.stdout
    assert "warning: olympiadbench.parquet not found under" in r.stderr
    assert D.validate_file(tmp_path / "data" / "math500_boxed.parquet") == 4
    assert D.validate_file(tmp_path / "data" / "dapo-math-17k.parquet") == 8
    env.pop("SKIP_BAD")
    r = subprocess.run(["bash", str(REPO / "download_data.sh")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path, check=False)
    assert r.returncode == 2 and "dapo-math-17k.parquet: row 5: missing answer" in r.stderr


# ------------------------------------------------------------------------------------- chat template
QWEN_MATH_TPL = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
    "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nPlease reason step by step, and put your final "
    "answer within \\\\boxed{}.<|im_end|>\\n' }}{%- endif %}{%- for m in messages %}{%- if m['role'] != 'system' "
    "%}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_32B_TPL = QWEN_MATH_TPL.replace(
    "Please reason step by step, and put your final answer within \\\\boxed{}.",
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
)


def _fake_tok(d: pathlib.Path, tpl: str | None, *, jinja: str | None = None) -> pathlib.Path:
    d.mkdir(parents=True)
    cfg = {"model_max_length": 131072, "eos_token": "<|endoftext|>", "tokenizer_class": "Qwen2Tokenizer"}
    if tpl is not None:
        cfg["chat_template"] = tpl
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    if jinja is not None:
        (d / "chat_template.jinja").write_text(jinja)
    return d


def _render(tpl: str) -> str:
    import jinja2

    return jinja2.Environment().from_string(tpl).render(
        messages=[{"role": "user", "content": "1+1?"}], add_generation_prompt=True
    )


def test_patch_chat_template(tmp_path):
    m7 = _fake_tok(tmp_path / "7B", QWEN_MATH_TPL)
    m32 = _fake_tok(tmp_path / "32B", QWEN_32B_TPL)
    assert "You are Qwen" in _render(D.read_chat_template(m32))
    assert D.patch_chat_template(m7, m32) is True
    cfg = json.loads((m32 / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] == QWEN_MATH_TPL
    assert cfg["model_max_length"] == 131072 and cfg["tokenizer_class"] == "Qwen2Tokenizer"
    rendered = _render(D.read_chat_template(m32))
    assert rendered.startswith("<|im_start|>system\nPlease reason step by step, and put your final answer within "
                               "\\boxed{}.<|im_end|>\n<|im_start|>user\n1+1?")
    orig = json.loads((m32 / "tokenizer_config.json.orig").read_text())
    assert orig["chat_template"] == QWEN_32B_TPL
    assert D.patch_chat_template(m7, m32) is False  # idempotent; backup untouched
    assert json.loads((m32 / "tokenizer_config.json.orig").read_text())["chat_template"] == QWEN_32B_TPL


def test_patch_chat_template_jinja_files_and_errors(tmp_path):
    m7 = _fake_tok(tmp_path / "7B", None, jinja=QWEN_MATH_TPL)  # newer Hub layout: chat_template.jinja
    m32 = _fake_tok(tmp_path / "32B", None, jinja=QWEN_32B_TPL)
    r = subprocess.run([sys.executable, "-m", "nft.data", "patch-chat-template", "--reference", str(m7),
                        "--target", str(m32)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert (m32 / "chat_template.jinja").read_text() == QWEN_MATH_TPL  # the file transformers prefers
    assert json.loads((m32 / "tokenizer_config.json").read_text())["chat_template"] == QWEN_MATH_TPL
    assert (m32 / "chat_template.jinja.orig").read_text() == QWEN_32B_TPL
    empty = _fake_tok(tmp_path / "empty", None)
    with pytest.raises(ValueError, match="has no chat_template"):
        D.patch_chat_template(empty, m32)
    with pytest.raises(FileNotFoundError, match="tokenizer_config.json not found"):
        D.patch_chat_template(m7, tmp_path / "missing")


def test_download_model_offline_patch(tmp_path):
    """download_model.sh with SKIP_DOWNLOAD=1 patches already-downloaded folders."""
    _fake_tok(tmp_path / "models" / "Qwen2.5-Math-7B", QWEN_MATH_TPL)
    _fake_tok(tmp_path / "models" / "Qwen2.5-32B", QWEN_32B_TPL)
    env = dict(os.environ, SKIP_DOWNLOAD="1", PYTHON=sys.executable)
    r = subprocess.run(["bash", str(REPO / "download_model.sh")], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "models" / "Qwen2.5-32B" / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] == QWEN_MATH_TPL
