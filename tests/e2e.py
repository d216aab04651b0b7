"""Shared by the end-to-end tests: every run is tagged, run in its own session with a wall-clock limit,
and must leave no process behind.

* :func:`run` starts a command in a new session and, past ``timeout``, kills the whole session (the
  script, the driver, Ray, vLLM) and fails with the output's tail;
* a run gets an environment tag (``NFT_E2E_TAG=<uuid>``, inherited by every process it starts, Ray's
  and vLLM's included); :func:`left_behind` waits for tagged processes to exit and SIGKILLs the rest;
  :func:`assert_nothing_left` fails when there were any (and after a failed run also removes the
  ``/dev/shm`` segments its killed processes left).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TAG_VAR = "NFT_E2E_TAG"


def tagged_pids(tag: str) -> list[int]:
    """PIDs of the live processes whose environment carries ``NFT_E2E_TAG=<tag>``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if f"{TAG_VAR}={tag}".encode() in env.split(b"\0"):
            pids.append(int(d.name))
    return pids


def left_behind(tag: str, grace_s: float = 30.0) -> dict[int, str]:
    """Wait up to ``grace_s`` for the tagged processes to exit; SIGKILL the rest and return them
    (pid -> command line)."""
    deadline = time.time() + grace_s
    pids = tagged_pids(tag)
    while pids and time.time() < deadline:
        time.sleep(0.5)
        pids = tagged_pids(tag)
    left = {}
    for pid in pids:
        try:
            left[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:150].decode(errors="replace")
        except OSError:
            left[pid] = "?"
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def assert_nothing_left(tag: str, grace_s: float = 30.0) -> None:
    """Kill what the run left (:func:`left_behind`) and fail if there was anything.

    Called from a ``finally`` while an exception propagates (the run failed or hit its time limit, so
    the script never reached its own clean-up), it also removes the ``/dev/shm`` segments that no live
    process holds any more (:func:`nft.shm.sweep`: vLLM's ring buffers of the killed run). On the
    success path it leaves them, so a test can still check that the script removed its own."""
    failing = sys.exc_info()[1] is not None
    left = left_behind(tag, grace_s)
    if failing:
        from nft.shm import sweep

        sweep(min_age_s=2)
    assert not left, f"processes left behind by the run: {left}"


def run(cmd: list[str], env: dict, timeout: float, cwd: str | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run`` in its own session; on timeout the whole session is killed (not only bash)."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{cmd[:2]} timed out after {timeout} s:\n{(out + err)[-4000:]}") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def shared_toy(tmp_path_factory) -> Path:
    """One toy model + data (64 training, 8 validation prompts) for the whole test session: building
    it (a supervised warm start) costs ~25 s, once instead of once per end-to-end test."""
    root = tmp_path_factory.getbasetemp() / "toy_shared"
    if not (root / "model" / "model.safetensors").exists():
        subprocess.run(
            [sys.executable, "-m", "nft.local.toy_task", "build", str(root), "--n-train", "64", "--n-val", "8"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return root
