"""The math-verify comparison, run inside a pool worker process (see :mod:`nft.reward._pool`).

Workers are forked by the pool's zygote (:func:`zygote_main`), which imported math-verify and sympy
once, so a new worker is ready in milliseconds. Timeouts are enforced by the parent killing the process;
math-verify's own signal-based timeouts are switched off (``parsing_timeout=None``,
``timeout_seconds=None``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import lru_cache

from nft.reward._extract import latex_for_math_verify, string_key

_mv = None
_CFG = None
_LOAD_LOCK = threading.Lock()


def _load():
    """Import math-verify on first use (the parent process only needs it in thread-fallback mode)."""
    global _mv, _CFG
    if _mv is None:
        with _LOAD_LOCK:
            if _mv is None:
                import math_verify
                from math_verify import ExprExtractionConfig, LatexExtractionConfig

                for name in ("math_verify", "math_verify.parser", "math_verify.grader", "math_verify.utils"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
                    logging.getLogger(name).disabled = True
                _CFG = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
                _mv = math_verify
    return _mv


def _parse(s: str):
    s = latex_for_math_verify(s)
    out = _mv.parse("\\boxed{" + s + "}", _CFG, parsing_timeout=None)
    if not out:
        out = _mv.parse("$" + s + "$", _CFG, parsing_timeout=None)
    return out


@lru_cache(maxsize=4096)
def _parse_gold(s: str):
    return _parse(s)


def mv_equal(gold: str, pred: str) -> tuple[bool, str]:
    """``(equal, how)`` for cleaned gold/pred answer strings via math-verify, with a textual
    fallback when one side does not parse (e.g. ``\\text{Evelyn}`` vs ``Evelyn``)."""
    _load()
    g = _parse_gold(gold)
    p = _parse(pred)
    if g and p:
        if _mv.verify(g, p, timeout_seconds=None):
            return True, "math_verify"
    if string_key(gold) == string_key(pred) and string_key(gold):
        return True, "string"
    return False, "math_verify" if (g and p) else "string"


def _limit_memory(limit_bytes: int | None) -> None:
    if not limit_bytes:
        return
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        new = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    except Exception:  # pragma: no cover - platform without RLIMIT_AS
        pass


def _orphan_watchdog(ppid: int) -> None:
    """Exit if our parent (the zygote, which exits with the owning process) goes away while we are
    stuck in a computation, so a killed trainer never leaves a spinning worker behind."""
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            os._exit(0)


def worker_main(conn, memory_limit_bytes: int | None) -> None:
    """Serve ``(gold, pred)`` requests on ``conn`` until ``None`` or EOF.

    Replies ``("ok", equal: bool, how: str)`` or ``("error", message: str)``.
    """
    _limit_memory(memory_limit_bytes)
    _load()
    threading.Thread(target=_orphan_watchdog, args=(os.getppid(),), daemon=True).start()
    try:
        conn.send(("ready",))  # imports done: the parent starts deadlines only from here
    except (EOFError, OSError):
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if job is None:
            return
        try:
            gold, pred = job
            eq, how = mv_equal(gold, pred)
            reply = ("ok", bool(eq), how)
        except BaseException as e:  # MemoryError, RecursionError, sympy internals ...
            reply = ("error", f"{type(e).__name__}: {str(e)[:200]}")
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


def zygote_main(argv: list[str]) -> None:
    """Entry point of the pool's zygote: ``argv[1:] = SOCKET_FD MEMORY_LIMIT_BYTES``.

    Imports math-verify once, then for every ``b"F"`` message carrying one file descriptor (a
    socket end) forks a worker that serves :func:`worker_main` on it, and replies the worker's pid
    as 8 bytes. The zygote is single-threaded (fork is safe), ignores SIGCHLD so the kernel reaps
    its dead workers, and exits at EOF of its socket (owner shut down or died).
    """
    import signal
    import socket
    import struct
    from multiprocessing.connection import Connection

    sock_fd, mem = int(argv[1]), int(argv[2])
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # anything a library prints must not reach a protocol channel
    os.close(devnull)
    _load()
    try:  # warm lazy initialisation (ANTLR LaTeX parser, sympy caches) once for every fork
        mv_equal("\\frac{\\sqrt{2}}{2}+x^2", "x^{2}+\\sqrt{2}/2")
        mv_equal("(1, 2]", "\\{1, 2\\}")
    except Exception:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    zs = socket.socket(fileno=sock_fd)
    zs.sendall(b"R")
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(zs, 16, 1)
        except (OSError, KeyboardInterrupt):
            return
        if not msg:
            return
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                zs.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                worker_main(Connection(fds[0]), mem or None)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])
        try:
            zs.sendall(struct.pack("!q", pid))
        except OSError:
            return
