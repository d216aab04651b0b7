"""nft.local.tcp_checkpoint_engine: verl's checkpoint-engine protocol over zmq/TCP, in one process.

The sender and the receivers run as asyncio tasks of one event loop, driven the way
``verl/checkpoint_engine/base.py::CheckpointEngineManager`` drives them (prepare -> build_topology ->
init_process_group -> send/receive -> finalize), twice, so a second sync over the same sender works.
The real separate_async run is ``tests/test_offpolicy_e2e.py``.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from verl.checkpoint_engine import CheckpointEngineRegistry

from nft.local import tcp_checkpoint_engine as tcp
from nft.local.vllm_cpu import WeightSyncError

BUCKET = 4096  # bytes: the 40x40 float32 weight (6400 B) travels in two chunks


def _weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "embed.weight": torch.randn(40, 40, generator=g),  # larger than a bucket
        "odd.bias": torch.randn(3, generator=g).to(torch.bfloat16),  # 6 bytes: the next chunk must realign
        "norm.weight": torch.randn(7, generator=g),
        # (no empty tensor: verl's split_weight_chunks yields no chunk for one, in every engine)
        "steps": torch.arange(5, dtype=torch.int64),
    }


def _engines(n_actor: int, n_rollout: int):
    actor = [tcp.TCPCheckpointEngine(bucket_size=BUCKET, is_master=(i == 0)) for i in range(n_actor)]
    rollout = [tcp.TCPCheckpointEngine(bucket_size=BUCKET) for _ in range(n_rollout)]
    return actor, rollout


def _connect(actor, rollout):
    meta = [e.prepare() for e in actor] + [e.prepare() for e in rollout]
    a_kw, r_kw = tcp.TCPCheckpointEngine.build_topology(len(actor), len(rollout), meta)
    for i, e in enumerate(actor):
        e.init_process_group(**{k: v[i] for k, v in a_kw.items()})
    for i, e in enumerate(rollout):
        e.init_process_group(**{k: v[i] for k, v in r_kw.items()})
    return a_kw, r_kw


async def _sync(actor, rollout, weights):
    walked = []

    def gen():
        for name, w in weights.items():
            walked.append(name)
            yield name, w

    async def receive(e):
        return {name: w.clone() async for name, w in e.receive_weights()}

    results = await asyncio.gather(*(e.send_weights(gen()) for e in actor), *(receive(e) for e in rollout))
    nbytes = sum(w.nbytes for w in weights.values())
    assert results[0]["checkpoint_engine/payload_mbytes"] == nbytes / 2**20
    assert results[0]["checkpoint_engine/receivers"] == len(rollout)
    assert all(r == {} for r in results[1 : len(actor)])  # only rank 0 reports
    return results[len(actor):], walked


def test_registered_under_its_backend_name():
    assert CheckpointEngineRegistry.get("nft_tcp") is tcp.TCPCheckpointEngine


def test_topology_has_one_sender_and_every_rollout_worker_receives():
    actor, rollout = _engines(3, 2)
    a_kw, r_kw = _connect(actor, rollout)
    assert a_kw["rank"] == [0, -1, -1] and r_kw["rank"] == [1, 2]
    assert set(a_kw["world_size"] + r_kw["world_size"]) == {3}
    for e in rollout + actor[1:]:
        e.finalize()


def test_two_syncs_deliver_every_tensor_exactly():
    actor, rollout = _engines(2, 2)
    for seed in (1, 2):
        _connect(actor, rollout)
        weights = _weights(seed)
        received, walked = asyncio.run(_sync(actor, rollout, weights))
        # both actor ranks walk the generator (producing a full tensor is collective over FSDP)
        assert walked == list(weights) * 2
        for got in received:
            assert list(got) == list(weights)
            for name, w in weights.items():
                assert got[name].dtype == w.dtype and got[name].shape == w.shape
                assert torch.equal(got[name], w), name
        for e in actor + rollout:
            e.finalize()


def test_a_receiver_that_never_connects_fails_the_sync(monkeypatch):
    monkeypatch.setenv("NFT_WEIGHT_SYNC_TIMEOUT_S", "1")
    actor, rollout = _engines(1, 2)
    meta = [actor[0].prepare(), None, None]
    a_kw, r_kw = tcp.TCPCheckpointEngine.build_topology(1, 2, meta)
    actor[0].init_process_group(**{k: v[0] for k, v in a_kw.items()})
    rollout[0].init_process_group(**{k: v[0] for k, v in r_kw.items()})  # rank 2 never connects
    with pytest.raises(WeightSyncError, match="no hello from every rollout worker within 1 s"):
        asyncio.run(actor[0].send_weights(iter(_weights(1).items())))
    rollout[0].finalize()


def test_a_receiver_whose_sender_stops_fails_instead_of_hanging(monkeypatch):
    monkeypatch.setenv("NFT_WEIGHT_SYNC_TIMEOUT_S", "1")
    actor, rollout = _engines(1, 1)
    _connect(actor, rollout)

    async def receive():
        return [n async for n, _ in rollout[0].receive_weights()]

    with pytest.raises(WeightSyncError, match="rollout worker 1 received no weight bucket within 1 s"):
        asyncio.run(receive())
    rollout[0].finalize()


def test_actor_rank_0_must_be_the_sender():
    with pytest.raises(RuntimeError, match="actor rank 0 must be the sender"):
        tcp.TCPCheckpointEngine.build_topology(1, 1, [None, None])
    with pytest.raises(ValueError, match="update_weights_bucket_megabytes"):
        tcp.TCPCheckpointEngine(bucket_size=0)
