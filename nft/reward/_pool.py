"""A persistent process pool with a hard per-item wall-clock deadline, usable from any thread.

Why not ``signal``: verl 0.9.1 calls reward functions from executor threads and Ray actors, where
``signal.alarm`` raises (math-verify then scores everything wrong) or cannot interrupt C code.

Design:

* A *zygote* process is started once with ``subprocess`` (fork+exec: safe from a threaded caller,
  allowed inside daemonic processes and Ray actors, and it never re-imports the caller's
  ``__main__`` as multiprocessing's spawn/forkserver do). It imports math-verify/sympy once and
  forks workers on request (:func:`nft.reward._worker.zygote_main`), so a new worker is ready in
  milliseconds, with no copy of the caller's threads or state.
* Each worker talks to us over its own socket pair (pickles via
  :class:`multiprocessing.connection.Connection`). :meth:`VerifierPool.run` checks out an idle
  worker (forking one if fewer than ``size`` exist, else waiting at most ``wait_timeout`` s),
  sends the job and polls for the reply for ``timeout`` s. A worker that misses its deadline is
  killed (SIGKILL; the zygote reaps it) and a replacement is forked in the background.
* :meth:`VerifierPool.shutdown` (registered with ``atexit``) stops every worker and the zygote;
  workers also exit at EOF of their socket and when orphaned, the zygote at EOF of its socket, so
  no process outlives its owner.
* If processes cannot be created at all (``OSError`` from ``subprocess``), jobs run on a daemon
  thread joined with the same deadline: the call still returns on time, but a pathological
  computation keeps burning CPU in the background. The result then says ``isolation="thread"``.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from nft.reward import _worker

_ZYGOTE_CMD = "import sys; from nft.reward._worker import zygote_main; zygote_main(sys.argv)"
#: Seconds the zygote may take to import math-verify, and a fork to report ready.
START_TIMEOUT = 60.0
# directory that contains the ``nft`` package, put first on the zygote's PYTHONPATH
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class JobResult:
    """Outcome of one job: ``status`` in {"ok", "timeout", "error"}."""

    status: str
    equal: bool = False
    how: str = ""
    error: str = ""
    isolation: str = "process"


class _Proc:
    __slots__ = ("pid", "conn")

    def __init__(self, pid: int | None, conn: Connection | None):
        self.pid = pid
        self.conn = conn

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - pid reused by another user's process
            return False

    def kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("zygote closed its socket")
        buf += chunk
    return buf


class VerifierPool:
    """Pool of at most ``size`` worker processes; see the module docstring for semantics."""

    def __init__(self, size: int, memory_limit_bytes: int | None = 2 << 30):
        if size < 1:
            raise ValueError(f"VerifierPool size must be >= 1, got {size}")
        self.size = size
        self.memory_limit_bytes = memory_limit_bytes
        self._cond = threading.Condition()
        self._idle: list[_Proc] = []
        self._all: set[_Proc] = set()
        self._closed = False
        self._processes_unavailable: str | None = None
        self._topping_up = False
        self._zlock = threading.Lock()
        self._zygote: subprocess.Popen | None = None
        self._zsock: socket.socket | None = None
        self.killed = 0  # workers killed at their deadline (diagnostics / tests)

    # -- zygote ---------------------------------------------------------------------------
    def _ensure_zygote(self) -> None:
        """Under ``self._zlock``: a running zygote (started if needed). ``OSError`` if processes
        cannot be created here; ``RuntimeError`` if it does not come up."""
        if self._zygote is not None and self._zygote.poll() is None:
            return
        self._stop_zygote()
        psock, csock = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _ZYGOTE_CMD, str(csock.fileno()), str(self.memory_limit_bytes or 0)],
                pass_fds=(csock.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except BaseException:
            psock.close()
            raise
        finally:
            csock.close()
        psock.settimeout(START_TIMEOUT)
        try:
            ok = _recv_exact(psock, 1) == b"R"
        except (OSError, EOFError):
            ok = False
        if not ok:
            proc.kill()
            proc.wait(5.0)
            psock.close()
            raise RuntimeError(f"verifier zygote did not start within {START_TIMEOUT:.0f}s (exit code {proc.poll()})")
        self._zygote, self._zsock = proc, psock

    def _stop_zygote(self) -> None:
        """Under ``self._zlock`` (or at shutdown)."""
        if self._zsock is not None:
            try:
                self._zsock.close()  # EOF: the zygote exits
            except Exception:
                pass
        if self._zygote is not None:
            try:
                self._zygote.wait(2.0)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait(2.0)
            except Exception:
                pass
        self._zygote, self._zsock = None, None

    # -- worker lifecycle ---------------------------------------------------------------
    def _start(self) -> _Proc:
        with self._zlock:
            if self._closed:
                raise RuntimeError("verifier pool is shut down")
            self._ensure_zygote()
            ours, theirs = socket.socketpair()
            try:
                socket.send_fds(self._zsock, [b"F"], [theirs.fileno()])
                pid = struct.unpack("!q", _recv_exact(self._zsock, 8))[0]
            except (OSError, EOFError) as e:
                ours.close()
                self._stop_zygote()
                raise RuntimeError(f"verifier zygote failed to fork a worker: {e}") from e
            finally:
                theirs.close()
        w = _Proc(pid, Connection(ours.detach()))
        try:
            ready = w.conn.poll(START_TIMEOUT) and w.conn.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            w.kill()
            raise RuntimeError(f"verifier worker {pid} did not report ready within {START_TIMEOUT:.0f}s")
        return w

    def _reserve(self) -> _Proc | None:
        """Under ``self._cond``: reserve a slot for a new worker if the pool is below size."""
        if self._closed or len(self._all) >= self.size:
            return None
        placeholder = _Proc(None, None)
        self._all.add(placeholder)
        return placeholder

    def _admit(self, placeholder: _Proc, w: _Proc | None, idle: bool) -> bool:
        """Replace ``placeholder`` by ``w``; False (and ``w`` killed) if the pool closed meanwhile."""
        with self._cond:
            self._all.discard(placeholder)
            closed = self._closed
            if w is not None and not closed:
                self._all.add(w)
                if idle:
                    self._idle.append(w)
            self._cond.notify()
        if closed and w is not None:
            w.kill()
        return not closed

    def _top_up_async(self) -> None:
        """Fork workers in the background until the pool has ``size`` of them, so that a request
        arriving after a kill finds a ready worker."""
        with self._cond:
            if self._topping_up or self._closed or len(self._all) >= self.size or self._processes_unavailable:
                return
            self._topping_up = True
        threading.Thread(target=self._top_up, name="nft-verifier-topup", daemon=True).start()

    def _top_up(self) -> None:
        try:
            while True:
                with self._cond:
                    placeholder = self._reserve()
                if placeholder is None:
                    return
                try:
                    w = self._start()
                except BaseException:
                    self._admit(placeholder, None, idle=False)
                    return
                if not self._admit(placeholder, w, idle=True):
                    return
        finally:
            with self._cond:
                self._topping_up = False

    def _kill(self, w: _Proc) -> None:
        w.kill()
        with self._cond:
            self._all.discard(w)
            self._cond.notify()
        self._top_up_async()

    def _checkout(self, wait_timeout: float) -> _Proc | None:
        """An idle worker, a new one, or None after ``wait_timeout`` s (raises if cannot start)."""
        deadline = time.monotonic() + wait_timeout
        with self._cond:
            while True:
                if self._closed:
                    return None
                while self._idle:
                    w = self._idle.pop()
                    if w.alive():
                        return w
                    self._all.discard(w)
                placeholder = self._reserve()
                if placeholder is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        try:
            w = self._start()
        except BaseException:
            self._admit(placeholder, None, idle=False)
            raise
        if not self._admit(placeholder, w, idle=False):
            return None
        self._top_up_async()
        return w

    def _checkin(self, w: _Proc) -> None:
        with self._cond:
            closed = self._closed
            if not closed:
                self._idle.append(w)
                self._cond.notify()
        if closed:
            w.kill()

    # -- public ---------------------------------------------------------------------------
    def run(self, gold: str, pred: str, timeout: float, wait_timeout: float, mode: str = "nft") -> JobResult:
        """Compare ``gold``/``pred`` in a worker within ``timeout`` s of compute. Never raises.

        ``mode``: ``"nft"`` (cleaned answers, :func:`nft.reward._worker.mv_equal`) or ``"math_verify"``
        (a gold answer and a whole response, :func:`nft.reward._worker.plain_math_verify`)."""
        if self._processes_unavailable is not None:
            return _run_in_thread(gold, pred, timeout, mode)
        try:
            w = self._checkout(wait_timeout)
        except OSError as e:  # cannot create processes here at all: degrade to threads
            self._processes_unavailable = f"{type(e).__name__}: {e}"
            return _run_in_thread(gold, pred, timeout, mode)
        except BaseException as e:  # a worker failed to start this time
            return JobResult("error", error=f"{type(e).__name__}: {e}"[:300])
        if w is None:
            return JobResult("timeout", error=f"no verifier worker free within {wait_timeout:.1f}s")
        try:
            w.conn.send((gold, pred, mode))
            if w.conn.poll(timeout):
                reply = w.conn.recv()
            else:
                self.killed += 1
                self._kill(w)
                return JobResult("timeout", error=f"math-verify exceeded {timeout:.2f}s; worker killed")
        except BaseException as e:  # worker died (memory limit, shutdown, ...) or pipe broke
            self._kill(w)
            return JobResult("error", error=f"verifier worker failed: {type(e).__name__}: {e}"[:300])
        self._checkin(w)
        if reply[0] == "ok":
            return JobResult("ok", equal=reply[1], how=reply[2])
        return JobResult("error", error=str(reply[1]))

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in self._all if w.pid is not None]

    def process_pids(self) -> list[int]:
        """Workers and the zygote (for leak checks)."""
        z = self._zygote
        return self.worker_pids() + ([z.pid] if z is not None and z.poll() is None else [])

    def shutdown(self) -> None:
        """Stop all workers and the zygote (idempotent). Busy workers are killed; their callers
        get an ``error`` result."""
        with self._cond:
            self._closed = True
            workers = [w for w in self._all if w.pid is not None]
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for w in workers:
            try:
                w.conn.send(None)
            except Exception:
                pass
        end = time.monotonic() + 1.0
        while time.monotonic() < end and any(w.alive() for w in workers):
            time.sleep(0.01)
        for w in workers:
            w.kill()
        with self._zlock:
            self._stop_zygote()


def _run_in_thread(gold: str, pred: str, timeout: float, mode: str = "nft") -> JobResult:
    box: list = []

    def target():
        try:
            box.append(("ok",) + _worker.run_job(gold, pred, mode))
        except BaseException as e:
            box.append(("error", f"{type(e).__name__}: {str(e)[:200]}"))

    t = threading.Thread(target=target, daemon=True, name="nft-verifier-thread")
    t.start()
    t.join(timeout)
    if not box:
        return JobResult("timeout", error=f"math-verify exceeded {timeout:.2f}s (thread, not killable)", isolation="thread")
    r = box[0]
    if r[0] == "ok":
        return JobResult("ok", equal=r[1], how=r[2], isolation="thread")
    return JobResult("error", error=r[1], isolation="thread")


# -- process-wide pool ---------------------------------------------------------------------
_POOL: VerifierPool | None = None
_POOL_PID: int | None = None
_POOL_LOCK = threading.Lock()


def get_pool(min_size: int) -> VerifierPool:
    """The process-wide pool, created on first use and grown to ``min_size`` if needed. A child
    created by ``fork`` gets a fresh pool (its parent's sockets are not its own)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid() or _POOL._closed:
            _POOL = VerifierPool(min_size)
            _POOL_PID = os.getpid()
        elif _POOL.size < min_size:
            with _POOL._cond:
                _POOL.size = min_size
        return _POOL


def shutdown_pool() -> None:
    """Stop the process-wide pool's workers and zygote (also run at interpreter exit)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and _POOL_PID == os.getpid():
        pool.shutdown()


atexit.register(shutdown_pool)
