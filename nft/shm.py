"""Orphaned POSIX shared-memory segments in ``/dev/shm``: find and remove them.

vLLM's engine talks to its workers through ``multiprocessing.shared_memory`` ring buffers
(``vllm/distributed/device_communicators/shm_broadcast.py``, segments ``psm_*``, ~400 MB per CPU run)
and unlinks them only on a clean shutdown; verl's trainer ends by killing its Ray actors, so the vLLM
processes die without unlinking, and each run would leave its segments behind. verl's weight-sync
buffers (``verl_weights_*``) are swept the same way.

A segment is **orphaned** when no live process has it open or mapped (``/proc/<pid>/fd`` and
``/proc/<pid>/maps``, by path or by inode) and it is older than ``min_age_s`` (so a segment between its creation and its
first ``mmap`` is never taken). Removing an orphan frees its memory and cannot disturb anyone: nobody
holds it, and a process that opens a segment by name only does so while its creator holds it.

    python -m nft.shm [--dry-run]    # prints what it removed (or would remove)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

SHM_DIR = "/dev/shm"
# Not multiprocessing's semaphores (sem.mp-*): tiny, and glibc maps a live one under a temporary name
# (see _held_paths), so a sweep by name alone would take semaphores in use.
PREFIXES = ("psm_", "verl_weights_")


def segments(prefixes: tuple[str, ...] = PREFIXES) -> set[str]:
    """Names of the segments in /dev/shm that start with one of ``prefixes``."""
    try:
        return {n for n in os.listdir(SHM_DIR) if n.startswith(prefixes)}
    except OSError:
        return set()


def held_paths() -> set[str]:
    """/dev/shm paths some live process maps or has open (``/proc/<pid>/maps`` and ``/proc/<pid>/fd``)."""
    return _held_paths()


def _held_paths() -> set[str]:
    held: set[str] = set()
    inodes: set[int] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        base = f"/proc/{pid}"
        try:
            with open(f"{base}/maps") as f:
                for line in f:
                    i = line.find(SHM_DIR + "/")
                    if i >= 0:
                        held.add(line[i:].rstrip("\n").removesuffix(" (deleted)"))
                        fields = line.split()
                        if len(fields) > 5 and fields[4].isdigit():
                            inodes.add(int(fields[4]))
        except OSError:
            pass
        try:
            fds = os.listdir(f"{base}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{base}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(SHM_DIR + "/"):
                held.add(target)
    # glibc's sem_open maps a temporary file (sem.XXXXXX, deleted at once) and links it to sem.<name>: a
    # live multiprocessing semaphore (sem.mp-*) is held through that inode, never under its own name.
    if inodes:
        try:
            for n in os.listdir(SHM_DIR):
                try:
                    if os.stat(os.path.join(SHM_DIR, n)).st_ino in inodes:
                        held.add(os.path.join(SHM_DIR, n))
                except OSError:
                    continue
        except OSError:
            pass
    return held


def orphaned(prefixes: tuple[str, ...] = PREFIXES, min_age_s: float = 10.0, shm_dir: str = SHM_DIR,
             among: set[str] | None = None) -> list[str]:
    """Paths of segments named ``<prefix>*`` (only those in ``among``, names, when given) that no live
    process holds, older than ``min_age_s``."""
    try:
        names = [n for n in os.listdir(shm_dir) if n.startswith(prefixes) and (among is None or n in among)]
    except FileNotFoundError:
        return []
    if not names:
        return []
    held = _held_paths() if shm_dir == SHM_DIR else set()
    now = time.time()
    out = []
    for n in sorted(names):
        path = os.path.join(shm_dir, n)
        try:
            age = now - os.stat(path).st_mtime
        except OSError:
            continue
        if path not in held and age >= min_age_s:
            out.append(path)
    return out


def sweep(prefixes: tuple[str, ...] = PREFIXES, min_age_s: float = 10.0, dry_run: bool = False,
          among: set[str] | None = None) -> list[str]:
    """Remove the orphaned segments (see :func:`orphaned`); return their paths."""
    removed = []
    for path in orphaned(prefixes, min_age_s, among=among):
        if not dry_run:
            try:
                os.unlink(path)
            except OSError:
                continue
        removed.append(path)
    return removed


def wait_released(since: float, timeout_s: float, prefixes: tuple[str, ...] = PREFIXES) -> list[str]:
    """Wait up to ``timeout_s`` until every segment created at or after ``since`` (epoch seconds) is
    released by its processes (a run's processes take a few seconds to die); return those still held."""
    deadline = time.time() + timeout_s
    while True:
        try:
            names = [n for n in os.listdir(SHM_DIR) if n.startswith(prefixes)]
        except FileNotFoundError:
            return []
        recent = set()
        for n in names:
            path = os.path.join(SHM_DIR, n)
            try:
                if os.stat(path).st_mtime >= since:
                    recent.add(path)
            except OSError:
                pass
        still = sorted(recent & _held_paths()) if recent else []
        if not still or time.time() >= deadline:
            return still
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nft.shm", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--min-age", type=float, default=10.0, help="seconds a segment must exist (default 10)")
    p.add_argument("--since", type=float, default=None,
                   help="first wait (up to --wait s) for segments created since this epoch time to be released")
    p.add_argument("--wait", type=float, default=20.0)
    a = p.parse_args(argv)
    if a.since is not None:
        for path in wait_released(a.since, a.wait):
            print(f"still in use after {a.wait:.0f} s: {path}", file=sys.stderr)
    paths = sweep(min_age_s=a.min_age, dry_run=a.dry_run)
    for path in paths:
        print(("would remove " if a.dry_run else "removed ") + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
