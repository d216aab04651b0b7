"""``hf`` rollout backend for verl 0.9.1: transformers ``generate`` behind verl's rollout-server API.

verl 0.9.1 rollouts are servers only (vllm, sglang, trtllm). This module registers a fourth one,
``actor_rollout_ref.rollout.name=hf``, through verl's two registries (no verl file is patched):

* ``verl/workers/rollout/replica.py::RolloutReplicaRegistry`` -> :class:`HFReplica`. In hybrid mode
  (the trainer's colocated actor/rollout) it starts one Ray actor per replica,
  :class:`HFRolloutServer`, named ``hf_server_{replica_rank}_0``, which holds a copy of the policy
  (float32, on CPU) and serves ``generate`` (token ids in, token ids + log-probs out) to verl's agent
  loop through ``verl/workers/rollout/llm_server.py::LLMServerClient.generate``.
* ``verl/workers/rollout/base.py::_ROLLOUT_REGISTRY[("hf", "async")]`` -> :class:`HFServerAdapter`,
  the ``BaseRollout`` that ``ActorRolloutRefWorker`` builds inside each actor worker. On every weight
  sync (``ActorRolloutRefWorker.update_weights`` with checkpoint engine ``naive``) it receives the
  actor's full parameters from the FSDP engine and loads them into the server's model: the server
  checks that every parameter of its model was received (tied ``lm_head`` aside) and raises
  otherwise. With ``NFT_HF_ROLLOUT_LOG=<file>`` in the environment, each sync appends a JSON line
  (update count, global step, tensors, sum of |weights|) to that file.

Sampling: ``temperature`` (0 = greedy), ``top_p``, ``top_k`` (-1/0 = off), ``repetition_penalty``,
``max_tokens``/``max_new_tokens`` (default ``min(response_length, prompt_length + response_length -
len(prompt))``, as verl's vLLM server), ``ignore_eos``, ``logprobs``. Log-probs of the sampled tokens
are ``log_softmax(logits / T)`` of the raw logits (T = 1 when greedy): the quantity verl's actor
computes (``logits.div_(temperature)``), without top-k/top-p renormalisation. The EOS token ends a
response and is included in it, as vLLM does. Concurrent requests are batched (left padding) for
up to :data:`BATCH_WAIT_S` seconds; requests with different sampling parameters go in different
batches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any, Generator, Optional

import torch

logger = logging.getLogger(__name__)

BATCH_WAIT_S = 0.02
_KNOWN_SAMPLING_KEYS = {
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "logprobs",
    "max_tokens",
    "max_new_tokens",
    "ignore_eos",
    "seed",
}


def server_name(replica_rank: int, node_rank: int = 0) -> str:
    return f"hf_server_{replica_rank}_{node_rank}"


def _unwrap(t: torch.Tensor) -> torch.Tensor:
    if hasattr(t, "full_tensor"):  # DTensor from FSDP2
        t = t.full_tensor()
    return t.detach().to("cpu", copy=True).contiguous()


class HFRolloutServer:
    """Ray actor: a transformers model serving verl's token-in/token-out ``generate``.

    Methods mirror what verl calls on a rollout server handle (``generate``, ``wake_up``, ``sleep``,
    ``clear_kv_cache``, ``abort_all_requests``, ...) plus :meth:`update_weights`.
    """

    def __init__(self, config, model_config, replica_rank: int = 0, num_threads: int = 1):
        from transformers import AutoModelForCausalLM
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        torch.set_num_threads(max(1, int(num_threads)))
        # The replica passes DictConfigs (as to vLLM's server, vllm_async_server.py)
        if not isinstance(config, RolloutConfig):
            config = omega_conf_to_dataclass(config)
        if not isinstance(model_config, HFModelConfig):
            model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.config = config
        self.model_config = model_config
        self.replica_rank = replica_rank
        path = model_config.local_path or model_config.path
        self.model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=torch.float32,
            attn_implementation="sdpa",
            trust_remote_code=bool(getattr(model_config, "trust_remote_code", False)),
        )
        self.model.eval()
        tok = model_config.tokenizer
        gen_cfg = getattr(self.model, "generation_config", None)
        eos = getattr(gen_cfg, "eos_token_id", None) if gen_cfg is not None else None
        if eos is None:
            eos = tok.eos_token_id
        self.eos_ids = sorted({int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None})
        pad = tok.pad_token_id if tok.pad_token_id is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.pad_id = int(pad)
        self.global_steps = None
        self.num_weight_updates = 0
        self.num_generated = 0
        seed = int(getattr(config, "seed", 0) or 0) + replica_rank
        torch.manual_seed(seed)  # transformers' sampling draws from the global generator
        self._pending: list[tuple[tuple, list[int], int, bool, asyncio.Future]] = []
        self._worker: Optional[asyncio.Task] = None
        self._torch_lock = threading.Lock()
        self._accepting: Optional[asyncio.Event] = None  # created on the actor's event loop
        self._reject = False
        self._warned_keys: set[str] = set()

    # ---------------------------------------------------------------- generation
    def _max_tokens(self, prompt_len: int, sp: dict) -> int:
        max_model_len = getattr(self.config, "max_model_len", None) or (
            self.config.prompt_length + self.config.response_length
        )
        possible = int(max_model_len) - prompt_len
        if possible < 1:
            raise ValueError(
                f"hf rollout: prompt length {prompt_len} leaves no room to generate within max_model_len "
                f"{max_model_len}; raise actor_rollout_ref.rollout.max_model_len or shorten prompts"
            )
        if "max_tokens" in sp:
            n = int(sp.pop("max_tokens"))
        elif "max_new_tokens" in sp:
            n = int(sp.pop("max_new_tokens"))
        else:
            n = min(self.config.response_length, self.config.prompt_length + self.config.response_length - prompt_len)
        return max(1, min(n, possible))

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str = "",
        image_data=None,
        video_data=None,
        audio_data=None,
        mm_processor_kwargs=None,
        priority: int = 0,
        **kwargs,
    ):
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None or audio_data is not None:
            raise NotImplementedError("hf rollout: multimodal inputs are not supported")
        prompt_ids = [int(t) for t in prompt_ids]
        sp = dict(sampling_params or {})
        max_tokens = self._max_tokens(len(prompt_ids), sp)
        for k in set(sp) - _KNOWN_SAMPLING_KEYS - self._warned_keys:
            logger.warning("hf rollout: sampling parameter %r is not supported and is ignored", k)
            self._warned_keys.add(k)
        temperature = float(sp.get("temperature", 1.0) or 0.0)
        top_k = int(sp.get("top_k", -1) or -1)
        key = (
            temperature,
            float(sp.get("top_p", 1.0) if sp.get("top_p") is not None else 1.0),
            top_k if top_k > 0 else 0,
            float(sp.get("repetition_penalty", 1.0) or 1.0),
            bool(sp.get("ignore_eos", False)),
            max_tokens,
        )
        lp_flag = sp.get("logprobs", None)  # verl: a bool; vLLM style: an int (0 = the sampled token's)
        want_logprobs = lp_flag is not None and lp_flag is not False
        if self._accepting is None:
            self._accepting = asyncio.Event()
            self._accepting.set()
        if not self._accepting.is_set():
            if self._reject:
                return TokenOutput(token_ids=[], log_probs=None, stop_reason="aborted",
                                   extra_fields={"global_steps": self.global_steps})
            await self._accepting.wait()
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((key, prompt_ids, max_tokens, want_logprobs, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        token_ids, log_probs, aborted = await fut
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if want_logprobs else None,
            stop_reason="aborted" if aborted else "completed",
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps},
        )

    async def _drain(self):
        while self._pending:
            await asyncio.sleep(BATCH_WAIT_S)
            batch, self._pending = self._pending, []
            groups: dict[tuple, list] = {}
            for item in batch:
                groups.setdefault(item[0], []).append(item)
            for key, items in groups.items():
                try:
                    results = await asyncio.to_thread(self._generate_batch, key, [it[1] for it in items])
                except BaseException as e:  # hand the error to every waiting request
                    for it in items:
                        if not it[4].done():
                            it[4].set_exception(e)
                    continue
                for it, (toks, lps) in zip(items, results):
                    if not it[4].done():
                        it[4].set_result((toks, lps, False))

    @torch.no_grad()
    def _generate_batch(self, key: tuple, prompts: list[list[int]]) -> list[tuple[list[int], list[float]]]:
        from transformers import GenerationConfig

        temperature, top_p, top_k, rep, ignore_eos, max_tokens = key
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p):] = 1
        greedy = temperature <= 0.0
        gen_cfg = GenerationConfig(
            max_new_tokens=max_tokens,
            do_sample=not greedy,
            temperature=None if greedy else temperature,
            top_p=None if greedy or top_p >= 1.0 else top_p,
            top_k=None if greedy or top_k <= 0 else top_k,
            repetition_penalty=None if rep == 1.0 else rep,
            eos_token_id=None if ignore_eos else self.eos_ids,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_logits=True,
        )
        with self._torch_lock:
            out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen_cfg)
        seqs = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1).float()  # (B, T, V), raw (before processors)
        scale = 1.0 if greedy else temperature
        logp = torch.log_softmax(logits / scale, dim=-1).gather(-1, seqs[:, : logits.shape[1], None]).squeeze(-1)
        results = []
        eos = set(self.eos_ids) if not ignore_eos else set()
        for i in range(len(prompts)):
            toks = seqs[i].tolist()
            n = len(toks)
            for j, t in enumerate(toks):
                if t in eos:
                    n = j + 1
                    break
            results.append((toks[:n], logp[i, :n].tolist()))
        self.num_generated += len(prompts)
        return results

    # ---------------------------------------------------------------- weights
    def update_weights(self, named_tensors: list[tuple[str, torch.Tensor]], global_steps: Optional[int] = None) -> int:
        """Load the actor's parameters; every model parameter must be present (tied lm_head aside)."""
        params = dict(self.model.named_parameters())
        received = set()
        unknown = []
        with self._torch_lock, torch.no_grad():
            for name, tensor in named_tensors:
                target = params.get(name)
                if target is None and not name.startswith("model.") and ("model." + name) in params:
                    target, name = params["model." + name], "model." + name
                if target is None:
                    if name == "lm_head.weight" and getattr(self.model.config, "tie_word_embeddings", False):
                        continue
                    unknown.append(name)
                    continue
                if tuple(target.shape) != tuple(tensor.shape):
                    raise ValueError(f"hf rollout: weight {name} has shape {tuple(tensor.shape)}, "
                                     f"model expects {tuple(target.shape)}")
                target.copy_(tensor.to(target.dtype))
                received.add(name)
        if unknown:
            raise ValueError(f"hf rollout: received weights the rollout model does not have: {unknown[:5]}")
        missing = [n for n in params if n not in received]
        if missing:
            raise ValueError(f"hf rollout: weight sync did not include {len(missing)} parameters, e.g. {missing[:5]}")
        self.num_weight_updates += 1
        if global_steps is not None:
            self.global_steps = global_steps
        log_path = os.environ.get("NFT_HF_ROLLOUT_LOG")
        if log_path:  # one JSON line per weight sync, for tests and debugging
            import json

            with torch.no_grad():
                checksum = float(sum(p.double().abs().sum() for p in self.model.parameters()))
            with open(log_path, "a") as f:
                f.write(json.dumps({"replica": self.replica_rank, "update": self.num_weight_updates,
                                    "global_steps": global_steps, "tensors": len(received),
                                    "abs_sum": checksum}) + "\n")
        return len(received)

    def get_stats(self) -> dict:
        return {
            "num_weight_updates": self.num_weight_updates,
            "num_generated": self.num_generated,
            "global_steps": self.global_steps,
        }

    def get_named_parameters(self) -> dict:
        return {n: p.detach().clone() for n, p in self.model.named_parameters()}

    # ---------------------------------------------------------------- control (verl's server API)
    async def wake_up(self, tags: Optional[list[str]] = None):
        return None  # weights and caches stay in host memory

    async def sleep(self):
        return None

    async def clear_kv_cache(self):
        return None  # generate() keeps no cache between calls

    async def release_kv_cache(self):
        return None

    async def resume_kv_cache(self):
        return None

    async def wait_for_requests_to_drain(self):
        while self._pending or (self._worker is not None and not self._worker.done()):
            await asyncio.sleep(BATCH_WAIT_S)

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    async def abort_all_requests(self, reject_request: bool = False) -> dict:
        """Abort queued (not yet running) requests; hold or reject new ones until resume_generation."""
        if self._accepting is None:
            self._accepting = asyncio.Event()
        self._accepting.clear()
        self._reject = reject_request
        pending, self._pending = self._pending, []
        for it in pending:
            if not it[4].done():
                it[4].set_result(([], None, True))
        return {"aborted_count": len(pending), "request_ids": []}

    async def resume_generation(self):
        if self._accepting is None:
            self._accepting = asyncio.Event()
        self._reject = False
        self._accepting.set()

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None


def _replica_class():
    import ray

    from verl.workers.rollout.replica import RolloutMode, RolloutReplica

    class HFReplica(RolloutReplica):
        """One :class:`HFRolloutServer` per replica (hybrid, colocated or standalone mode)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.world_size != 1:
                raise ValueError(
                    "hf rollout: tensor/data/pipeline parallel sizes must be 1 "
                    f"(got world size {self.world_size}); set actor_rollout_ref.rollout.tensor_model_parallel_size=1"
                )

        async def launch_servers(self):
            prefix = "hf_"
            if self.is_reward_model:
                name = f"{prefix}server_reward_{self.replica_rank}_0{self.name_suffix}"
            elif self.is_teacher_model:
                name = f"{prefix}server_teacher_{self.replica_rank}_0{self.name_suffix}"
            else:
                name = f"{prefix}server_{self.replica_rank}_0{self.name_suffix}"
            threads = int(os.environ.get("NFT_HF_ROLLOUT_THREADS", "1"))
            server = (
                ray.remote(HFRolloutServer)
                .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
                .remote(
                    config=self.config,
                    model_config=self.model_config,
                    replica_rank=self.replica_rank,
                    num_threads=threads,
                )
            )
            await server.get_stats.remote()  # wait until the model is loaded
            self.servers = [server]
            self._server_handle = server
            # An identifier for verl's load balancer; the hf server is reached via its Ray handle only.
            self._server_address = name

        def rollout_worker_use_gpu(self) -> bool:
            return False

        async def init_standalone(self):
            self.rollout_mode = RolloutMode.STANDALONE
            await self.launch_servers()

        async def init_colocated(self, resource_pool):
            self.rollout_mode = RolloutMode.COLOCATED
            self.resource_pool = resource_pool
            await self.launch_servers()

    return HFReplica


_HF_REPLICA = None


def _load_hf_replica():
    global _HF_REPLICA
    if _HF_REPLICA is None:
        _HF_REPLICA = _replica_class()
    return _HF_REPLICA


def _adapter_class():
    import ray

    from verl.workers.rollout.base import BaseRollout

    class HFServerAdapter(BaseRollout):
        """In the actor worker: forwards weight syncs to this replica's :class:`HFRolloutServer`."""

        def __init__(self, config, model_config, device_mesh, replica_rank: int = -1):
            super().__init__(config, model_config, device_mesh)
            rank = int(os.environ.get("RANK", "0"))
            self.replica_rank = rank if replica_rank == -1 else replica_rank  # rollout world size is 1
            self.server_handle = None
            self.num_updates = 0

        def _server(self):
            if self.server_handle is None:
                self.server_handle = ray.get_actor(server_name(self.replica_rank))
            return self.server_handle

        async def resume(self, tags: list[str]):
            return None

        async def release(self):
            return None

        @torch.no_grad()
        async def update_weights(
            self,
            weights: Generator[tuple[str, torch.Tensor], None, None],
            global_steps: Optional[int] = None,
            wire_format: str = "named_tensors",
            peft_config=None,
            **kwargs,
        ):
            if wire_format != "named_tensors":
                raise NotImplementedError(f"hf rollout: wire_format={wire_format!r} (only 'named_tensors')")
            if peft_config is not None:
                raise NotImplementedError("hf rollout: LoRA adapters are not supported; use model.lora.merge=True")
            if hasattr(weights, "__aiter__"):
                named = [(n, _unwrap(t)) async for n, t in weights]
            else:
                named = [(n, _unwrap(t)) for n, t in weights]
            n = await self._server().update_weights.remote(named, global_steps=global_steps)
            self.num_updates += 1
            logger.info("hf rollout: synced %d tensors to %s (update %d)", n, server_name(self.replica_rank),
                        self.num_updates)

        def generate_sequences(self, prompts):
            raise NotImplementedError("hf rollout serves the agent loop (async server mode) only")

    return HFServerAdapter


_HF_ADAPTER = None


def __getattr__(name: str):
    # verl resolves "nft.local.hf_rollout.HFServerAdapter" (verl/workers/rollout/base.py::get_rollout_class)
    global _HF_ADAPTER
    if name == "HFServerAdapter":
        if _HF_ADAPTER is None:
            _HF_ADAPTER = _adapter_class()
        return _HF_ADAPTER
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _register_adapter(rollout_base_module) -> None:
    rollout_base_module._ROLLOUT_REGISTRY[("hf", "async")] = f"{__name__}.HFServerAdapter"


def _register_replica(replica_module) -> None:
    replica_module.RolloutReplicaRegistry.register("hf", _load_hf_replica)


def register() -> None:
    """Register ``hf`` in verl's two rollout registries (idempotent), when (or if) verl imports them."""
    from nft.local._hooks import when_imported

    when_imported("verl.workers.rollout.base", _register_adapter)
    when_imported("verl.workers.rollout.replica", _register_replica)
