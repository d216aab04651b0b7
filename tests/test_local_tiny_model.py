"""nft.local.tiny_model: a random Qwen2 + byte-level BPE tokenizer, built offline, loadable by HF."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from nft.local.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "m"), seed=0)


def test_folder_loads_with_auto_classes(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert os.path.isfile(os.path.join(tiny_dir, f)), f
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    n = sum(p.numel() for p in model.parameters())
    assert 50_000 <= n <= 1_000_000, n
    assert 300 <= len(tok) <= 512
    assert model.config.vocab_size >= len(tok)
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    assert model.config.eos_token_id == tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id
    ids = torch.tensor([tok("hello 1 2 3")["input_ids"]])
    logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "text",
    ["a b\nc", "  two  spaces\n\nand\ttab", "1+2=3, \\boxed{7}", "Ünïcode ✓ 数学", "<|im_start|>user\nhi<|im_end|>\n"],
)
def test_tokenizer_round_trips(tiny_dir, text):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def test_specials_and_digits_are_single_tokens(tiny_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    for s in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        assert len(tok(s, add_special_tokens=False)["input_ids"]) == 1, s
    assert [tok.decode([i]) for i in tok("0123456789", add_special_tokens=False)["input_ids"]] == list("0123456789")


def test_chat_template_is_chatml(tiny_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    text = tok.apply_chat_template([{"role": "user", "content": "2 + 2?"}], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\n2 + 2?<|im_end|>\n<|im_start|>assistant\n"


def test_same_seed_same_weights_other_seed_differs(tmp_path, tiny_dir):
    from safetensors.torch import load_file

    a = load_file(os.path.join(tiny_dir, "model.safetensors"))
    b = load_file(os.path.join(build_tiny_model(str(tmp_path / "b"), seed=0), "model.safetensors"))
    c = load_file(os.path.join(build_tiny_model(str(tmp_path / "c"), seed=1), "model.safetensors"))
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_overrides_and_bad_overrides(tmp_path):
    d = build_tiny_model(str(tmp_path / "w"), seed=0, hidden_size=32, intermediate_size=64, num_hidden_layers=1)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    assert (cfg["hidden_size"], cfg["num_hidden_layers"]) == (32, 1)
    with pytest.raises(ValueError, match="unknown Qwen2Config field"):
        build_tiny_model(str(tmp_path / "x"), hidden_sizee=32)
    with pytest.raises(ValueError, match="vocab_size"):
        build_tiny_model(str(tmp_path / "y"), vocab_size=100)
    with pytest.raises(ValueError, match="vocab_size_target"):
        build_tiny_model(str(tmp_path / "z"), vocab_size_target=10)


def test_cli(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "nft.local.tiny_model", str(out), "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "parameters" in proc.stdout
    assert (out / "model.safetensors").is_file()
