"""A verl checkpoint engine that sends the actor's weights to standalone rollout replicas over TCP.

verl 0.9.1's ``trainer.v1.trainer_mode=separate_async`` runs rollout replicas on their own devices and
refreshes their weights through a checkpoint engine (``verl/checkpoint_engine/base.py::
CheckpointEngineManager.update_weights``); ``PPOTrainerSeparateAsync.__init__`` refuses the in-process
``naive`` engine, and every engine verl ships moves device buffers (nccl/hccl: collectives over GPU
memory, nixl/mooncake/kimi: RDMA, delta_sharded: CUDA IPC). None can run on the CPU platform, so this
one carries the same protocol over a zmq socket:

* actor rank 0 is the only sender (the other actor ranks still walk the weight generator, since
  producing each full tensor is collective over the FSDP group); every rollout worker receives;
* ``prepare`` -> ``build_topology`` -> ``init_process_group`` -> ``send_weights``/``receive_weights``
  -> ``finalize``, called by ``CheckpointEngineManager.build_process_group`` and ``update_weights``
  at every sync, as for ``nccl_checkpoint_engine.py::NCCLCheckpointEngine``;
* weights are cut into buckets of ``update_weights_bucket_megabytes`` with verl's own
  ``split_weight_chunks`` and put back together with ``merge_weight_chunks`` (a tensor larger than a
  bucket travels in several), then handed to the rollout's ``ServerAdapter.update_weights``, the same
  path the colocated sync uses;
* every wait is bounded by ``NFT_WEIGHT_SYNC_TIMEOUT_S`` (default 300 s): a receiver that never
  connects or a sender that stops raises :class:`~nft.local.vllm_cpu.WeightSyncError` instead of
  hanging the trainer.

Select it with::

    actor_rollout_ref.rollout.checkpoint_engine.backend=nft_tcp
    actor_rollout_ref.rollout.checkpoint_engine.custom_backend_module=nft.local.tcp_checkpoint_engine

(verl imports ``custom_backend_module`` in the driver, the actor workers and the rollout workers before
it looks the backend up: ``engine_workers.py::ActorRolloutRefWorker.init_model``,
``CheckpointEngineWorker.__init__``, ``CheckpointEngineManager.__init__``). ``recipes/quickstart_cpu.sh``
sets both for ``TRAINER_MODE=separate_async``. It is meant for the CPU loop: on GPUs use ``nccl``.

Protocol, per sync: the sender binds a ROUTER socket once; each receiver connects a DEALER whose
identity is its rank and says ``hello``; the sender waits for all of them, then sends every bucket to
every receiver as ``[meta, payload]`` (``meta`` a pickled dict of verl ``TensorMeta`` and ``is_last``),
and waits for each receiver's ``done``.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from dataclasses import dataclass
from typing import AsyncGenerator

import torch
import zmq

from verl.checkpoint_engine.base import (
    CheckpointEngine,
    CheckpointEngineRegistry,
    merge_weight_chunks,
    split_weight_chunks,
)

from verl.workers.rollout.utils import ensure_async_iterator

from nft.local.vllm_cpu import WeightSyncError, _sync_timeout_s

logger = logging.getLogger(__name__)

BACKEND = "nft_tcp"
_HELLO, _DONE = b"hello", b"done"
_ALIGN = 64  # bytes: every chunk starts at a multiple, so a bfloat16 after an odd-sized tensor still views


@dataclass
class SenderAddress:
    """Where actor rank 0 listens (returned by its ``prepare``)."""

    address: str


def _node_ip() -> str:
    import ray

    ip = ray.util.get_node_ip_address().strip("[]")
    return f"[{ip}]" if ":" in ip else ip


@CheckpointEngineRegistry.register(BACKEND)
class TCPCheckpointEngine(CheckpointEngine):
    """Actor rank 0 -> every rollout worker, buckets over zmq/TCP (see the module docstring).

    Args:
        bucket_size: bytes per bucket (verl passes ``update_weights_bucket_megabytes << 20``).
        is_master: True in actor rank 0 (verl passes ``torch.distributed.get_rank() == 0`` to actor
            workers; rollout workers get the default False).
    """

    def __init__(self, bucket_size: int, is_master: bool = False) -> None:
        if bucket_size <= 0:
            raise ValueError(f"checkpoint_engine.update_weights_bucket_megabytes must be > 0, got {bucket_size} bytes")
        self.bucket_size = bucket_size
        self.is_master = is_master
        self.rank: int | None = None
        self.world_size: int | None = None
        self._context = zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._address: str | None = None
        if is_master:
            self._socket = self._context.socket(zmq.ROUTER)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to an unknown receiver raises
            self._socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a receiver's reconnect replaces its old pipe
            self._socket.setsockopt(zmq.SNDHWM, 0)  # never drop a bucket
            ip = _node_ip()
            port = self._socket.bind_to_random_port(f"tcp://{ip}")
            self._address = f"tcp://{ip}:{port}"

    # -- topology (CheckpointEngineManager.build_process_group) ------------------------------------------
    def prepare(self) -> SenderAddress | None:
        return SenderAddress(self._address) if self.is_master else None

    @classmethod
    def build_topology(cls, actor_wg_world_size: int, rollout_world_size: int, metadata: list):
        sender = metadata[0]
        if not isinstance(sender, SenderAddress):
            raise RuntimeError(
                f"{BACKEND} checkpoint engine: actor rank 0 must be the sender, but its prepare() returned "
                f"{sender!r}; is checkpoint_engine.backend the same in every process?"
            )
        world_size = 1 + rollout_world_size
        actor = {
            "rank": [0] + [-1] * (actor_wg_world_size - 1),
            "world_size": [world_size] * actor_wg_world_size,
            "sender": [sender] * actor_wg_world_size,
        }
        rollout = {
            "rank": list(range(1, world_size)),
            "world_size": [world_size] * rollout_world_size,
            "sender": [sender] * rollout_world_size,
        }
        return actor, rollout

    def init_process_group(self, rank: int, world_size: int, sender: SenderAddress) -> None:
        self.rank, self.world_size = rank, world_size
        if rank <= 0:
            return
        if self._socket is not None:
            self._socket.close(linger=0)
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IDENTITY, str(rank).encode())
        self._socket.setsockopt(zmq.RCVHWM, 0)
        self._socket.setsockopt(zmq.RCVTIMEO, int(_sync_timeout_s() * 1000))
        self._socket.connect(sender.address)
        self._socket.send(_HELLO)
        self._sender_address = sender.address

    def finalize(self) -> None:
        if not self.is_master and self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        self.rank = self.world_size = None

    # -- sender (actor) ---------------------------------------------------------------------------------
    def _poll(self, what: str) -> list[bytes]:
        timeout_s = _sync_timeout_s()
        if not self._socket.poll(int(timeout_s * 1000), zmq.POLLIN):
            raise WeightSyncError(
                f"weight sync to the standalone rollout failed ({BACKEND} checkpoint engine): no {what} within "
                f"{timeout_s:.0f} s (NFT_WEIGHT_SYNC_TIMEOUT_S) on {self._address}; see the rollout workers' log"
            )
        return self._socket.recv_multipart()

    async def _expect_all(self, word: bytes, what: str) -> None:
        pending = {str(r).encode() for r in range(1, self.world_size)}
        while pending:
            identity, message = await asyncio.to_thread(self._poll, what)
            if message != word:
                raise WeightSyncError(
                    f"{BACKEND} checkpoint engine: rollout worker {identity.decode()} sent {message[:40]!r} while "
                    f"the sender waited for {word!r}"
                )
            pending.discard(identity)

    def _send_bucket(self, meta: dict, payload: torch.Tensor) -> None:
        head = pickle.dumps(meta)
        body = payload.numpy().tobytes()  # a copy: the bucket is refilled while zmq may still be sending
        for rank in range(1, self.world_size):
            self._socket.send_multipart([str(rank).encode(), head, body])

    async def send_weights(self, weights, global_steps: int | None = None):
        if self.rank is None:
            raise RuntimeError(f"{BACKEND} checkpoint engine: send_weights before init_process_group")
        if self.rank < 0:  # not the sender: only take part in producing the full tensors
            async for _ in ensure_async_iterator(weights):
                pass
            return {}
        t0 = time.time()
        await self._expect_all(_HELLO, "hello from every rollout worker")
        bucket = torch.empty(self.bucket_size, dtype=torch.uint8)
        bucket_meta, offset, total = {}, 0, 0
        async for tensor_meta, chunk in split_weight_chunks(weights, self.bucket_size):
            offset = -(-offset // _ALIGN) * _ALIGN  # the receiver views each chunk as its dtype in place
            if offset + tensor_meta.chunk_size > self.bucket_size:
                await asyncio.to_thread(self._send_bucket, {"bucket_meta": bucket_meta, "is_last": False},
                                        bucket[:offset])
                bucket_meta, offset = {}, 0
            tensor_meta.offset = offset
            bucket_meta[tensor_meta.name] = tensor_meta
            bucket[offset : offset + tensor_meta.chunk_size] = chunk.detach().to("cpu")
            offset += tensor_meta.chunk_size
            total += tensor_meta.chunk_size
        await asyncio.to_thread(self._send_bucket, {"bucket_meta": bucket_meta, "is_last": True}, bucket[:offset])
        await self._expect_all(_DONE, "acknowledgement from every rollout worker")
        seconds = time.time() - t0
        logger.info("%s: sent %.1f MB to %d rollout workers in %.2f s", BACKEND, total / 2**20,
                    self.world_size - 1, seconds)
        # CheckpointEngineManager.update_weights hands the senders' dicts to the trainer's step metrics
        return {"checkpoint_engine/payload_mbytes": total / 2**20, "checkpoint_engine/receivers": float(self.world_size - 1),
                "checkpoint_engine/seconds": seconds}

    # -- receiver (rollout) -----------------------------------------------------------------------------
    def _recv_bucket(self) -> tuple[dict, torch.Tensor]:
        try:
            head, body = self._socket.recv_multipart()
        except zmq.Again:
            raise WeightSyncError(
                f"weight sync from the actor failed ({BACKEND} checkpoint engine): rollout worker {self.rank} "
                f"received no weight bucket within {_sync_timeout_s():.0f} s (NFT_WEIGHT_SYNC_TIMEOUT_S) from "
                f"{self._sender_address}; see the actor's log"
            ) from None
        payload = torch.frombuffer(bytearray(body), dtype=torch.uint8) if body else torch.empty(0, dtype=torch.uint8)
        return pickle.loads(head), payload

    async def _chunks(self) -> AsyncGenerator:
        while True:
            meta, payload = await asyncio.to_thread(self._recv_bucket)
            for tensor_meta in meta["bucket_meta"].values():
                yield tensor_meta, payload[tensor_meta.offset : tensor_meta.offset + tensor_meta.chunk_size]
            if meta["is_last"]:
                return

    async def receive_weights(self, global_steps: int | None = None) -> AsyncGenerator:
        if self.rank is None or self.rank <= 0:
            raise RuntimeError(f"{BACKEND} checkpoint engine: receive_weights on a worker that is not a receiver")
        async for name, weight in merge_weight_chunks(self._chunks(), self.bucket_size):
            yield name, weight
        self._socket.send(_DONE)

