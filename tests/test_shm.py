"""nft.shm: a segment that a live process holds is never taken; an orphan is removed."""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing import shared_memory

from nft import shm


def test_held_segment_is_kept_and_orphan_is_swept():
    held = shared_memory.SharedMemory(create=True, size=4096)  # "psm_..." held (mapped) by this process
    # An orphan: created by a child that exits without unlinking (what a killed vLLM process leaves).
    code = (
        "from multiprocessing import shared_memory, resource_tracker as rt\n"
        "s = shared_memory.SharedMemory(create=True, size=4096)\n"
        "rt.unregister(s._name, 'shared_memory')\n"  # as after SIGKILL: nobody unlinks it
        "print(s.name)\n"
    )
    orphan = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    orphan_path = os.path.join(shm.SHM_DIR, orphan)
    held_path = os.path.join(shm.SHM_DIR, held.name)
    try:
        assert os.path.exists(orphan_path)
        found = shm.orphaned(min_age_s=0)
        assert orphan_path in found and held_path not in found
        assert orphan_path not in shm.orphaned(min_age_s=3600)  # too recent to be taken
        assert shm.wait_released(since=0, timeout_s=0) != []  # ours is still held
        removed = shm.sweep(min_age_s=0)
        assert orphan_path in removed and not os.path.exists(orphan_path)
        assert os.path.exists(held_path)
    finally:
        held.close()
        held.unlink()
        if os.path.exists(orphan_path):
            os.unlink(orphan_path)


def _orphan_segment(age_s: float) -> str:
    path = os.path.join(shm.SHM_DIR, f"psm_nfttest_{os.getpid()}_{int(age_s)}")
    with open(path, "wb") as f:
        f.write(b"\0" * 4096)
    os.utime(path, (os.path.getmtime(path) - age_s,) * 2)
    return path


def test_e2e_cleanup_sweeps_segments_only_after_a_failed_run():
    """tests/e2e.py::assert_nothing_left, called from a ``finally``: after a failure (the script's own
    clean-up never ran) it removes the orphaned segments; after a success it leaves them for the test's
    own check that the script removed them."""
    from e2e import assert_nothing_left

    path = _orphan_segment(age_s=60)
    try:
        assert_nothing_left("no-such-tag", grace_s=0)
        assert os.path.exists(path)
        try:
            try:
                raise RuntimeError("the run timed out")
            finally:
                assert_nothing_left("no-such-tag", grace_s=0)
        except RuntimeError:
            pass
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)
