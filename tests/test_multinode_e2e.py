"""The cluster path with the user's own scripts, on one CPU machine: a two-node Ray cluster started with
``recipes/ray_cluster.sh head`` and ``recipes/ray_cluster.sh worker``, then
``SUBMIT=1 NNODES=2 GPUS_PER_NODE=1 bash train_7B.sh`` (tiny model, toy task, 2 steps), then
``RAY_TMPDIR=... bash recipes/ray_cluster.sh stop`` on each "node" (docs/cluster.md, "Two nodes on one
machine (CPU)").

What it checks:

* two raylets, one logical GPU each, joined with one shared auth token (Ray 2.60 enables token auth);
  both bound to loopback addresses of their own (127.0.0.2 head, 127.0.0.3 worker: Ray rewrites
  127.0.0.1 to the machine's interface address, ``ray/_private/services.py::resolve_ip_for_localhost``,
  while the rest of 127.0.0.0/8 is used as given), each with its own ``--temp-dir`` and ports;
* ``ray job submit`` through the job server, with the runtime env built by ``recipes/launch.sh``:
  the raylets are started WITHOUT the CPU platform, so ``VERL_PLATFORM=cpu`` and
  ``VERL_USE_EXTERNAL_MODULES=nft.local.plugin,nft.register`` reach the driver and the Ray workers only
  through that runtime env (checked in the environment of every Ray worker and vLLM engine process of
  the job on both nodes, sampled from /proc while it runs);
* verl's actor group spread over both nodes (FSDP2 over gloo, world size 2, ``trainer.nnodes=2
  trainer.n_gpus_per_node=1``) and one vLLM rollout server per node (Ray state: the node of every
  GPU actor and of every ``vLLMHttpServer``), weight sync (``rollout_probs_diff``), validation before
  and after, a checkpoint at step 2;
* truncated answers are negatives through the whole loop (one-token answers, the toy reward wrapped by
  ``nft.reward.truncation``): ``_assert_truncated_answers_are_negative``;
* ``RAY_TMPDIR=<node's temp dir> ray_cluster.sh stop`` for each node stops exactly this cluster: afterwards no process of it is alive (raylet,
  gcs_server, ray:: workers, VLLM:: engines, the job driver) and no /dev/shm segment it created is left.

Every process the test starts carries a unique environment tag, independent of the script's own marker;
whatever is left is killed in ``finally`` (also after a failure or the test's own time limit).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from e2e import TAG_VAR, shared_toy

from nft.local.progress import val_acc
from nft.shm import PREFIXES, SHM_DIR, orphaned
from nft.plot import read_steps

REPO = Path(__file__).resolve().parents[1]
SIZE = [  # 2 steps; one token per answer: every answer but a bare EOS is cut at the limit (truncation checks)
    "trainer.total_training_steps=2", "trainer.save_freq=2", "trainer.test_freq=2",
    "data.train_batch_size=4", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
    "data.max_prompt_length=32", "data.max_response_length=1",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1", "actor_rollout_ref.rollout.gpu_memory_utilization=0.5",
    "algorithm.filter_groups.max_num_gen_batches=0", "algorithm.filter_groups.max_inflight_gen_batches=1",
]
TIME_LIMIT_S = float(os.environ.get("NFT_MULTINODE_TIME_LIMIT_S", "540"))  # the whole test
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
BIN = Path(sys.executable).parent


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _procs() -> dict[int, tuple[int, bytes, bytes]]:
    """Live (non-zombie) processes: pid -> (ppid, environ, cmdline)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] != "Z":
                out[int(d.name)] = (int(stat[1]), (d / "environ").read_bytes(), (d / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return out


def _ours(tag: str, ray_tmp: Path) -> dict[int, str]:
    """This test's live processes: those carrying the tag or naming its Ray temp dir on their command line,
    and their descendants. pid -> command line."""
    procs = _procs()
    mark, tmp = f"{TAG_VAR}={tag}".encode(), str(ray_tmp).encode()
    ours = {p for p, (_, env, cmd) in procs.items() if mark in env.split(b"\0") or tmp in cmd}
    grew = True
    while grew:
        new = {p for p, (pp, _, _) in procs.items() if pp in ours and p not in ours}
        ours |= new
        grew = bool(new)
    return {p: procs[p][2].replace(b"\0", b" ")[:160].decode(errors="replace") for p in ours}


def _kill(pids: dict[int, str]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _shm() -> set[str]:
    """Names of the /dev/shm segments vLLM, verl and multiprocessing create (nft.shm.PREFIXES)."""
    return {n for n in os.listdir(SHM_DIR) if n.startswith(PREFIXES)} if os.path.isdir(SHM_DIR) else set()


def _leaked(before: set[str]) -> set[str]:
    """Segments created since `before` that no live process holds (open or mapped)."""
    return {os.path.basename(p) for p in orphaned(min_age_s=0)} - before


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.time() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.time()
        if left <= 0:
            raise AssertionError(f"the test's own time limit of {TIME_LIMIT_S:.0f} s is spent")
        return min(left, cap) if cap else left


def _run(cmd, env, timeout, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run in its own session (process group); on timeout kill the whole group. Output also to `log`."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out.seek(0)
            text = out.read()
            if log:
                log.write_text(text)
            raise AssertionError(f"{' '.join(map(str, cmd[:4]))} ... timed out after {timeout:.0f} s:\n{text[-6000:]}")
        out.seek(0)
        text = out.read()
    if log:
        log.write_text(text)
    return subprocess.CompletedProcess(cmd, proc.returncode, text, "")


STATE = r"""
import json, sys
from ray.util.state import list_actors, list_nodes, list_jobs
addr = sys.argv[1]
nodes = [dict(node_id=n.node_id, ip=n.node_ip, state=n.state, gpus=n.resources_total.get("GPU"))
         for n in list_nodes(address=addr, detail=True, raise_on_missing_output=False)]
actors = [dict(cls=a.class_name, name=a.name, node=a.node_id, state=a.state, res=a.required_resources or {})
          for a in list_actors(address=addr, detail=True, limit=10000, raise_on_missing_output=False)]
jobs = [dict(id=j.submission_id, status=str(j.status), env=(j.runtime_env or {}).get("env_vars", {}))
        for j in list_jobs(address=addr, raise_on_missing_output=False)]
print("STATE " + json.dumps(dict(nodes=nodes, actors=actors, jobs=jobs)))
"""


def _state(env, dash: str, timeout: float) -> dict:
    r = _run([sys.executable, "-c", STATE, dash], env, timeout)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("STATE ")]
    assert r.returncode == 0 and line, r.stdout[-3000:]
    return json.loads(line[-1][len("STATE "):])


class EnvSampler(threading.Thread):
    """Samples, every 0.5 s, the tagged processes' title, node (their NFT_RAY_TMPDIR marker) and plugin
    environment: the job's Ray workers and vLLM engine processes live only while it runs."""

    KEYS = ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES", "NFT_RAY_TMPDIR")

    def __init__(self, tag: str):
        super().__init__(daemon=True)
        self.mark = f"{TAG_VAR}={tag}".encode()
        self.seen: dict[int, dict] = {}
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            for pid, (_, env, cmd) in _procs().items():
                entries = env.split(b"\0")
                if self.mark not in entries:
                    continue
                vals = dict(e.decode(errors="replace").split("=", 1) for e in entries if b"=" in e)
                title = cmd.split(b"\0")[0].decode(errors="replace").strip()
                # the latest environment wins: a Ray worker starts as setup_worker.py with the raylet's
                # environment and exec's itself (same pid) into the worker with the runtime env's
                rec = self.seen.setdefault(pid, {})
                rec.update({k: vals.get(k) for k in self.KEYS}, node=vals.get("NFT_RAY_TMPDIR"))
                if title and not title.startswith("ray::IDLE") or "title" not in rec:
                    rec["title"] = title
            self._halt.wait(0.5)

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


# CPU settings of recipes/quickstart_cpu.sh (CPU_ARGS), minus its private ray_init resources (this job
# joins an existing cluster), on top of train_7B.sh's paper settings; verl's vLLM rollout, eager, fp32.
def _overrides(toy: Path, run: Path) -> list[str]:
    return [
        "data.dataloader_num_workers=0", "data.seed=1",
        "actor_rollout_ref.model.use_remove_padding=false",
        "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",  # = the per-rank mini-batch (4 x 4 / 2)
        "actor_rollout_ref.actor.use_dynamic_bsz=false",
        "actor_rollout_ref.actor.optim.lr=2e-3", "actor_rollout_ref.actor.optim.lr_warmup_steps=0",
        "actor_rollout_ref.actor.optim.weight_decay=0.0",
        "actor_rollout_ref.actor.use_torch_compile=false",
        "actor_rollout_ref.rollout.mode=async",
        "actor_rollout_ref.rollout.top_k=-1",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=false",
        "actor_rollout_ref.rollout.calculate_log_probs=true",
        "actor_rollout_ref.rollout.enforce_eager=true", "actor_rollout_ref.rollout.dtype=float32",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "actor_rollout_ref.rollout.val_kwargs.top_p=1.0",
        # the toy task's scorer with truncation-as-negative (nft/reward/truncation.py), see MAX_RESPONSE_LEN
        "reward.custom_reward_function.path=pkg://nft.local.toy_task",
        "reward.custom_reward_function.name=compute_score_truncated_negative",
        # every group is all-wrong (one-token answers): DAPO filtering would discard them all
        "algorithm.filter_groups.enable=false",
        f"trainer.validation_data_dir={run}/val_generations",
        "reward.num_workers=1",
        "trainer.device=cpu",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        f"hydra.run.dir={run}/hydra",
    ]


def _assert_truncated_answers_are_negative(val_dir: Path, steps: dict, train: dict) -> None:
    """With ``data.max_response_length=1`` and the toy task's reward wrapped by
    :func:`nft.reward.truncation.negative_if_truncated`, through :class:`nft.reward.manager.NFTRewardManager`
    (the reward manager of recipes/config/nft_trainer.yaml): every answer that is not a bare EOS is cut
    at the limit; the toy task's own scorer would count a correct first digit as +1, here each scores -1,
    in validation (verl's dump of validation generations carries each sample's reward extra info) and
    in training (the step's ``critic/score/mean`` is exactly -1)."""
    rows = [json.loads(line) for f in sorted(val_dir.glob("*.jsonl")) for line in f.read_text().splitlines() if line]
    assert len(rows) >= 2 * 8, len(rows)  # before and after training, 8 validation prompts
    truncated = [r for r in rows if r["truncated"]]
    assert truncated, "no answer reached max_response_length=1 without EOS"
    assert all(r["score"] == -1.0 and r["acc"] == 0.0 for r in truncated)
    right_but_cut = [r for r in truncated if r["pred"] and r["pred"] == str(r["gts"]).strip()]
    assert right_but_cut, [(r["output"], r["gts"], r["pred"]) for r in truncated[:10]]
    for r in rows:
        if not r["truncated"]:  # a finished one-token answer is the EOS alone: no digit
            assert r["score"] == -1.0 and r["pred"] == "", r
    for s, m in train.items():
        assert m["critic/score/mean"] == -1.0, (s, {k: v for k, v in m.items() if "score" in k})
        # the step's truncation rate (nft/trainer.py, from each answer's reward_extra_info); verl's length
        # clip ratio also counts the bare EOS (its length is the limit too), so it bounds the rate from above
        rate = m["nft/reward/truncated_rate"]
        assert 0.0 < rate <= m["response_length/clip_ratio"] + 1e-9, (s, rate)
    # in validation verl averages the `truncated` reward key per data source
    before = [r for r in rows if r["step"] == 0]
    keys = [k for k in steps[0] if "/truncated/mean@" in k]
    assert keys, sorted(steps[0])
    assert steps[0][keys[0]] == pytest.approx(sum(r["truncated"] for r in before) / len(before))


@pytest.mark.e2e  # two raylets, verl's loop, two vLLM engines: among the slowest tests (CI runs them)
def test_two_node_cluster_submit_train_7B_stop(tmp_path, tmp_path_factory):
    deadline = Deadline(TIME_LIMIT_S)
    tag = uuid.uuid4().hex
    # short paths: Ray's AF_UNIX sockets live in the temp dirs. One per "node", as on a real cluster: two
    # raylets sharing a session dir would each stream the other's worker logs (with its own ip= prefix).
    ray_tmp = Path(tempfile.mkdtemp(prefix="nftray-", dir="/tmp"))
    node_tmp = {HEAD_IP: ray_tmp / "head", WORKER_IP: ray_tmp / "worker"}
    shm_before = _shm()
    t0 = time.time()
    timings = {}
    gcs, dash, client = _free_port(), _free_port(), _free_port()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RAY_", "VERL_", "VLLM_", "NFT_CPU_")) and k not in ("SUBMIT", "DRY_RUN", "PRINT_ARGS")}
    cluster_env = dict(
        base,
        **{TAG_VAR: tag},
        PATH=f"{BIN}{os.pathsep}{base.get('PATH', '')}",
        RAY=str(BIN / "ray"), RAY_PORT=str(gcs),
        # one token for both nodes and the client, never the user's ~/.ray/auth_token
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
        GPUS_PER_NODE="1", NUM_CPUS="16",  # logical: one GPU per node; verl + TransferQueue want ~10 CPUs
        RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0",
        RAY_prestart_worker_first_driver="0", RAY_enable_worker_prestart="0",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
    )
    script = ["bash", str(REPO / "recipes" / "ray_cluster.sh")]
    try:
        # ---- tiny model + toy task (shared with the other end-to-end tests of the session)
        toy = shared_toy(tmp_path_factory)
        timings["toy"] = time.time() - t0

        # ---- two nodes: head (GCS, dashboard/job server) and a worker, loopback only
        head = _run([*script, "head", "--ray-client-server-port", str(client),
                     "--dashboard-agent-listen-port", str(_free_port()), "--disable-usage-stats"],
                    dict(cluster_env, NODE_IP=HEAD_IP, RAY_TMPDIR=str(node_tmp[HEAD_IP]), DASHBOARD_PORT=str(dash),
                         DASHBOARD_HOST="127.0.0.1"),
                    deadline.left(120), tmp_path / "head.log")
        assert head.returncode == 0, head.stdout[-4000:]
        worker = _run([*script, "worker", "--dashboard-agent-listen-port", str(_free_port()), "--disable-usage-stats"],
                      dict(cluster_env, NODE_IP=WORKER_IP, HEAD_IP=HEAD_IP, RAY_TMPDIR=str(node_tmp[WORKER_IP])),
                      deadline.left(120),
                      tmp_path / "worker.log")
        assert worker.returncode == 0, worker.stdout[-4000:]
        dash_url = f"http://127.0.0.1:{dash}"
        alive, waited = [], time.time() + 60
        while len(alive) < 2:
            assert time.time() < waited, f"two live nodes expected within 60 s: {alive}"
            try:
                alive = [n for n in _state(cluster_env, dash_url, deadline.left(60))["nodes"] if n["state"] == "ALIVE"]
            except AssertionError:  # the dashboard may still be starting
                time.sleep(1)
        assert sorted(n["ip"] for n in alive) == [HEAD_IP, WORKER_IP], alive
        assert [n["gpus"] for n in alive] == [1.0, 1.0], alive
        node_ids = {n["node_id"] for n in alive}
        timings["cluster"] = time.time() - t0
        # the raylets know nothing of the CPU platform: it can only come from the job's runtime env
        raylets = [p for p, cmd in _ours(tag, ray_tmp).items() if "/raylet/raylet " in cmd]
        assert len(raylets) == 2, _ours(tag, ray_tmp)
        for pid in raylets:
            env = dict(e.split(b"=", 1) for e in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in e)
            assert b"VERL_PLATFORM" not in env and env.get(b"VERL_USE_EXTERNAL_MODULES") == b"nft.register"

        # ---- the user's script: ray job submit, 2 nodes x 1 GPU, 2 steps
        run = tmp_path / "run"
        run.mkdir()
        submit_env = dict(
            cluster_env,
            SUBMIT="1", NNODES="2", GPUS_PER_NODE="1", RAY_ADDRESS=dash_url, PYTHON=sys.executable,
            VERL_PLATFORM="cpu", VERL_USE_EXTERNAL_MODULES="nft.local.plugin",
            VLLM_CPU_KVCACHE_SPACE="1", NFT_CPU_WEIGHT_BUCKET_MB="16",
            MODEL_PATH=str(toy / "model"), TRAIN_FILE=str(toy / "data" / "train.parquet"),
            VAL_FILES=str(toy / "data" / "val.parquet"), CKPT_DIR=str(run / "checkpoints"),
            PROJECT="nft-multinode", EXP_NAME="two-nodes",
            # verl's file logger in the job's driver (forwarded by recipes/launch.sh's runtime env)
            LOGGER="file", VERL_FILE_LOGGER_PATH=str(run / "metrics.jsonl"),
        )
        sampler = EnvSampler(tag)
        sampler.start()
        try:
            job = _run(["bash", str(REPO / "train_7B.sh"), *_overrides(toy, run), *SIZE], submit_env, deadline.left(),
                       tmp_path / "job.log")
        finally:
            sampler.stop()
        timings["job"] = time.time() - t0
        out = job.stdout
        assert job.returncode == 0, out[-8000:]
        m = re.search(r"Job '(raysubmit_\w+)' succeeded", out)
        assert m, out[-4000:]
        job_id = m.group(1)

        # The runtime env reached every process of the job on both nodes: the Ray workers (ray::<actor>) and
        # vLLM's engine processes (VLLM::*) seen while it ran, each with its node's temp dir (the marker).
        seen = sampler.seen
        (tmp_path / "job_processes.json").write_text(json.dumps(seen, indent=1))
        job_procs = {p: r for p, r in seen.items() if r["title"].startswith(("ray::", "VLLM::"))
                     and r["title"] not in ("ray::IDLE", "ray::DashboardAgent", "ray::RuntimeEnvAgent")}
        print("job processes:", json.dumps(sorted({(r["title"], r["node"]) for r in job_procs.values()})))
        for title_prefix in ("ray::", "VLLM::"):
            nodes = {r["node"] for r in job_procs.values() if r["title"].startswith(title_prefix)}
            assert nodes == {str(d) for d in node_tmp.values()}, (title_prefix, nodes, job_procs)
        wrong = {p: r for p, r in job_procs.items()
                 if (r["VERL_PLATFORM"], r["VERL_USE_EXTERNAL_MODULES"]) != ("cpu", "nft.local.plugin,nft.register")}
        assert not wrong, sorted((r["title"], r["node"], r["VERL_PLATFORM"], r["VERL_USE_EXTERNAL_MODULES"])
                                 for r in wrong.values())
        # workers on the worker node logged the CPU platform (Ray prefixes their lines with ip=<node>)
        assert re.search(rf"pid=\d+, ip={re.escape(WORKER_IP)}\).*Platform override from VERL_PLATFORM: cpu", out)
        state = _state(cluster_env, dash_url, deadline.left(60))
        assert [j["status"] for j in state["jobs"] if j["id"] == job_id] == ["SUCCEEDED"], state["jobs"]
        # verl's GPU workers (FSDP2 actor + rollout, world size 2) and its vLLM servers: one per node
        print("actors:", json.dumps([(a["cls"], a["name"], a["node"][:8], a["res"]) for a in state["actors"]]))
        # verl's fused actor+rollout workers (create_colocated_worker_cls.<locals>.WorkerDict), <prefix>WorkerDict_<rank>:0
        workers = [a for a in state["actors"] if a["cls"].endswith("WorkerDict")]
        assert len(workers) == 2, workers
        assert sorted(a["name"].rsplit("_", 1)[-1] for a in workers) == ["0:0", "1:0"], workers
        assert {a["node"] for a in workers} == node_ids, (workers, node_ids)
        assert all(any(k == "GPU" or k.startswith("GPU_group_") for k in a["res"]) for a in workers), workers
        servers = [a for a in state["actors"] if a["cls"] == "vLLMHttpServer"]
        assert len(servers) == 2 and {a["node"] for a in servers} == node_ids, servers

        # training, weight sync, validation, checkpoint (verl's file logger, as the quickstart reads it)
        steps: dict[int, dict] = {}
        for rec in read_steps(str(run / "metrics.jsonl")):
            steps.setdefault(rec.pop("step"), {}).update(rec)
        train = {s: m for s, m in steps.items() if "actor/grad_norm" in m}
        assert sorted(train) == [1, 2], (sorted(steps), out[-6000:])
        for s, m in train.items():
            assert m["actor/grad_norm"] > 0 and math.isfinite(m["actor/pg_loss"]), m
            # the vLLM servers generate with the actor's synced weights (stale ones differ by far more)
            assert m["training/rollout_probs_diff_max"] < 0.05, (s, m["training/rollout_probs_diff_max"])
        val = {s: val_acc(m) for s, m in steps.items() if val_acc(m) is not None}
        assert sorted(val) == [0, 2] and all(math.isfinite(v) for v in val.values()), val  # before, after
        ckpt = run / "checkpoints" / "nft-multinode" / "two-nodes"
        assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
        actor = ckpt / "global_step_2" / "actor"
        assert actor.is_dir() and len(list(actor.glob("model_world_size_2_rank_*.pt"))) == 2, list(actor.iterdir())
        _assert_truncated_answers_are_negative(run / "val_generations", steps, train)
        shown = ("timing_s/step", "timing_s/gen", "training/rollout_probs_diff_max", "nft/reward/truncated_rate")
        print("multinode e2e steps:", json.dumps(
            {s: {k: round(m[k], 4) for k in shown if k in m} | ({"val_acc": val[s]} if s in val else {})
             for s, m in sorted(steps.items())}))

        # ---- stop exactly this cluster
        cluster = _ours(tag, ray_tmp)
        assert sum("gcs_server" in c for c in cluster.values()) == 1, cluster
        for ip in (WORKER_IP, HEAD_IP):  # "on each node"
            stop = _run([*script, "stop"], dict(cluster_env, RAY_TMPDIR=str(node_tmp[ip])), deadline.left(90),
                        tmp_path / f"stop-{ip}.log")
            assert stop.returncode == 0, stop.stdout[-3000:]
            assert re.search(rf"stopped \d+ process\(es\) of RAY_TMPDIR={node_tmp[ip]};", stop.stdout), stop.stdout
            print(f"stop {ip}: {stop.stdout.strip()}")
        timings["stop"] = time.time() - t0
        procs = _procs()
        left = {p: c for p, c in cluster.items() if p in procs} | _ours(tag, ray_tmp)
        assert not left, f"processes of the cluster left after ray_cluster.sh stop: {left}"
        leaked = _leaked(shm_before)
        assert not leaked, f"/dev/shm segments left: {sorted(leaked)}"
        again = _run([*script, "stop"], dict(cluster_env, RAY_TMPDIR=str(node_tmp[HEAD_IP])), deadline.left(30))
        assert again.returncode == 0 and "no Ray process of RAY_TMPDIR=" in again.stdout, again.stdout
        print(f"multinode e2e timings (s since start): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    finally:
        survivors = _ours(tag, ray_tmp)
        _kill(survivors)
        end = time.time() + 15
        while _ours(tag, ray_tmp) and time.time() < end:
            _kill(_ours(tag, ray_tmp))
            time.sleep(0.5)
        for name in _leaked(shm_before):
            Path(SHM_DIR, name).unlink(missing_ok=True)
        if sys.exc_info()[0] is not None:  # keep Ray's logs of a failed run next to the test's own
            for logs in ray_tmp.glob("*/session_2*/logs"):
                shutil.copytree(logs, tmp_path / "ray-logs" / logs.parent.parent.name, dirs_exist_ok=True,
                                ignore_dangling_symlinks=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)
        if survivors:
            print(f"killed processes left by the test: {survivors}")


# ------------------------------------------------------------------------------------ the pieces, quick
HOLDER = r"""
import mmap, os, signal, sys, time, uuid
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
# a /dev/shm segment mapped by this process (as vLLM's ring buffers are), without multiprocessing's
# resource tracker (a second process) so that the test knows exactly which processes exist
name = f"psm_nfttest_{uuid.uuid4().hex[:8]}"
fd = os.open(f"/dev/shm/{name}", os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, 4096)
buf = mmap.mmap(fd, 4096)
if sys.argv[1] == "with-child":  # a descendant whose environment lost the marker
    import subprocess
    child = subprocess.Popen(["sleep", "600"], env={})
    print(child.pid, flush=True)
print(name, flush=True)
time.sleep(600)
"""

def test_stop_with_ray_tmpdir_stops_only_that_cluster(tmp_path):
    """`RAY_TMPDIR=D ray_cluster.sh stop` ends the processes marked NFT_RAY_TMPDIR=D and their descendants
    (SIGTERM, then SIGKILL for one that ignores it), removes the /dev/shm segments they mapped, and leaves
    another cluster's processes alone."""
    mine, other = tmp_path / "mine", tmp_path / "other"
    mine.mkdir(), other.mkdir()
    procs = []
    try:
        for marker, mode in ((mine, "with-child"), (mine, "ignore-term"), (other, "plain")):
            env = dict(os.environ, NFT_RAY_TMPDIR=str(marker.resolve()))
            procs.append(subprocess.Popen([sys.executable, "-c", HOLDER, mode], env=env, stdout=subprocess.PIPE,
                                          text=True, start_new_session=True))
        child = int(procs[0].stdout.readline())
        names = [p.stdout.readline().strip() for p in procs]
        # an orphan written since "mine" started (as vLLM's ring buffers after verl ended the job), and
        # one from before: only the first is swept
        (mine / "nft_started_at").write_text(f"{int(time.time()) - 60}\n")
        orphans = [Path(SHM_DIR, f"psm_nfttest_{uuid.uuid4().hex[:8]}") for _ in range(2)]
        for o in orphans:
            o.write_bytes(b"x")
        os.utime(orphans[1], (time.time() - 120, time.time() - 120))
        os.utime(orphans[0], (time.time() - 5, time.time() - 5))
        assert all(Path("/dev/shm", n).exists() for n in names)
        r = subprocess.run(["bash", str(REPO / "recipes" / "ray_cluster.sh"), "stop"],
                           env=dict(os.environ, RAY_TMPDIR=str(mine), STOP_GRACE_S="3"), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "SIGKILL to 1 process(es) still running after 1 s" in r.stdout, r.stdout  # a third of 3 s
        assert f"stopped 3 process(es) of RAY_TMPDIR={mine.resolve()}; removed 3 /dev/shm segment(s)" in r.stdout
        assert not orphans[0].exists() and orphans[1].exists()
        assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split(") ")[1][:1]
        assert procs[0].wait(timeout=10) == -signal.SIGTERM and procs[1].wait(timeout=10) == -signal.SIGKILL
        assert procs[2].poll() is None  # the other "cluster" is untouched
        assert not Path("/dev/shm", names[0]).exists() and not Path("/dev/shm", names[1]).exists()
        assert Path("/dev/shm", names[2]).exists()
        again = subprocess.run(["bash", str(REPO / "recipes" / "ray_cluster.sh"), "stop"],
                               env=dict(os.environ, RAY_TMPDIR=str(mine)), capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "no Ray process of RAY_TMPDIR=" in again.stdout
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in locals().get("names", []):
            Path("/dev/shm", n).unlink(missing_ok=True)
        for o in locals().get("orphans", []):
            o.unlink(missing_ok=True)


def test_submit_runtime_env_forwards_cpu_settings(tmp_path):
    """SUBMIT=1: the runtime env keeps nft.register after the user's plugin modules (once) and carries
    VERL_PLATFORM, VLLM_CPU_* and NFT_CPU_*; RAY picks the ray executable (dry run: nothing submitted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VERL_", "VLLM_", "NFT_CPU_"))}
    env.update(SUBMIT="1", PRINT_ARGS="0", DRY_RUN="1", PYTHON=sys.executable, RAY="/opt/ray/bin/ray",
               VERL_PLATFORM="cpu", VERL_USE_EXTERNAL_MODULES="nft.local.plugin, nft.register",
               VLLM_CPU_KVCACHE_SPACE="2", NFT_CPU_WEIGHT_BUCKET_MB="16", NFT_UNRELATED="x",
               MODEL_PATH=str(tmp_path / "m"), DATA_DIR=str(tmp_path))
    r = subprocess.run(["bash", str(REPO / "train_7B.sh")], env=env, capture_output=True, text=True, timeout=180,
                       cwd=str(tmp_path))
    line = next((x for x in r.stdout.splitlines() if x.startswith("DRY_RUN: would submit: ")), None)
    assert line, r.stdout[-3000:] + r.stderr[-3000:]
    assert line.startswith("DRY_RUN: would submit: /opt/ray/bin/ray job submit --address http://127.0.0.1:8265 ")
    runtime_env = json.loads(line.split("--runtime-env-json ", 1)[1].split(" -- ", 1)[0])
    ev = runtime_env["env_vars"]
    assert ev["VERL_USE_EXTERNAL_MODULES"] == "nft.local.plugin,nft.register"
    assert ev["VERL_PLATFORM"] == "cpu" and ev["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert ev["NFT_CPU_WEIGHT_BUCKET_MB"] == "16" and "NFT_UNRELATED" not in ev
    assert runtime_env["py_modules"] == [str(REPO / "nft")]
