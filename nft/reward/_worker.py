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

from nft.reward._normal import string_key
from nft.reward._numbers import latex_for_math_verify, number_value

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
                from latex2sympy2_extended import NormalizationConfig
                from math_verify import ExprExtractionConfig, LatexExtractionConfig

                for name in ("math_verify", "math_verify.parser", "math_verify.grader", "math_verify.utils"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
                    logging.getLogger(name).disabled = True
                # math-verify's own extraction and normalisation of the (already extracted) answer: the
                # box we wrap it in first; units, malformed operators (\frac12, \sqrt2) and small nits
                # normalised by math-verify; an answer that is not LaTeX read by its expression config
                _CFG = [
                    LatexExtractionConfig(
                        boxed_match_priority=0,
                        normalization_config=NormalizationConfig(
                            basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="all",
                            equations=False,
                        ),
                    ),
                    ExprExtractionConfig(),
                ]
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


def _numbers_differ(g: list, p: list) -> bool:
    """True when math-verify accepted two closed-form numbers that are not equal.

    math-verify compares numbers after rounding to 6 decimals, which equates ``e^{-30}`` and
    ``e^{-31}`` or ``1/3^{50}`` and ``1/3^{51}``. Here both parsed values are evaluated to 60 digits:
    with no decimal on either side they must agree to 40 significant digits (exact equality for any
    closed form sympy evaluates); a decimal answer for an exact ground truth must equal it up to the
    binary representation of the decimal (relative 1e-12: a rounded value such as ``0.6667`` for
    ``2/3`` is not the answer); a decimal ground truth allows a relative 1e-6 — relative, so
    the tolerance never spans a change of magnitude. Sets, intervals, equations and expressions
    with symbols are left to math-verify."""
    import sympy

    a, b = g[0], p[0]
    if not isinstance(a, sympy.Expr) or not isinstance(b, sympy.Expr):
        return False
    if a.free_symbols or b.free_symbols or not a.is_number or not b.is_number:
        return False
    gold_decimal = bool(a.atoms(sympy.Float))
    pred_decimal = bool(b.atoms(sympy.Float))
    try:
        va, vb = sympy.N(a, 60), sympy.N(b, 60)
        diff = abs(complex(sympy.N(va - vb, 60)))
        scale = max(abs(complex(va)), abs(complex(vb)))
    except Exception:  # noqa: BLE001 - not evaluable: keep math-verify's verdict
        return False
    if scale == 0 or diff != diff or scale != scale:
        return False
    # a decimal parsed as a binary float (0.1) carries ~1e-17 of representation error
    rel = 1e-6 if gold_decimal else (1e-12 if pred_decimal else 1e-40)
    return diff > rel * scale


def _rounded_gold_verdict(gold: str, p: list) -> bool | None:
    """A ground truth written as a plain decimal (``7.85``: the problem may have rounded) and an
    answer that is a closed-form number (``\\frac{5\\pi}{2}``): right iff the answer lies strictly
    within half a unit of the ground truth's last digit — the fast path's rule for decimals
    (:func:`nft.reward._numbers._compare_values`), applied here to values only sympy can evaluate.
    None when the rule does not apply."""
    import sympy

    n = number_value(gold)
    if n is None or n.ulp is None or n.percent:
        return None
    b = p[0]
    if not isinstance(b, sympy.Expr) or b.free_symbols or not b.is_number:
        return None
    try:
        diff = sympy.N(b - sympy.Rational(n.value.numerator, n.value.denominator), 40)
        if not diff.is_real:
            return None
        return bool(abs(diff) < sympy.Rational(n.ulp.numerator, 2 * n.ulp.denominator))
    except Exception:  # noqa: BLE001 - not evaluable: leave it to math-verify
        return None


def mv_equal(gold: str, pred: str) -> tuple[bool, str]:
    """``(equal, how)`` for cleaned gold/pred answer strings via math-verify, with a textual
    fallback when one side does not parse (e.g. ``\\text{Evelyn}`` vs ``Evelyn``)."""
    _load()
    g = _parse_gold(gold)
    p = _parse(pred)
    if g and p:
        rounded = _rounded_gold_verdict(gold, p)
        if rounded is not None:
            return rounded, "math_verify"
        if _mv.verify(g, p, timeout_seconds=None):
            if _numbers_differ(g, p):
                return False, "math_verify"
            return True, "math_verify"
    if string_key(gold) == string_key(pred) and string_key(gold):
        return True, "string"
    return False, "math_verify" if (g and p) else "string"


_PLAIN_METRIC = None


def plain_math_verify(gold: str, response: str) -> tuple[bool, str]:
    """math-verify called the way the NFT authors' ``verifier.py::math_verify_compute_score`` calls
    it (and verl's ``utils/reward_score/math_verify.py::compute_score`` at the commit they pin):
    ``math_metric`` with LaTeX extraction for the gold wrapped in ``\\boxed{}``, expression + LaTeX
    extraction over the *whole* response, any exception scored wrong. Runs in a worker process's
    main thread, so math-verify's own ``signal`` timeouts work as in their trainer."""
    global _PLAIN_METRIC
    _load()
    if _PLAIN_METRIC is None:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig
        from math_verify.metric import math_metric

        _PLAIN_METRIC = math_metric(
            gold_extraction_target=(LatexExtractionConfig(),),
            pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig()),
        )
    try:
        score, _ = _PLAIN_METRIC(["\\boxed{" + gold + "}"], [response])
    except Exception:  # noqa: BLE001 - their bare try/except: an error is a wrong answer
        score = 0.0
    return bool(score > 0.5), "math_verify_plain"


def run_job(gold: str, pred: str, mode: str) -> tuple[bool, str]:
    if mode == "math_verify":
        return plain_math_verify(gold, pred)
    if mode == "nft":
        return mv_equal(gold, pred)
    raise ValueError(f"unknown verifier job mode {mode!r} (expected 'nft' or 'math_verify')")


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
            gold, pred, mode = job if len(job) == 3 else (*job, "nft")
            eq, how = run_job(gold, pred, mode)
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
