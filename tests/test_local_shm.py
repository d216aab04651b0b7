"""nft.local.shm: a segment that a live process holds is never taken; an orphan is removed."""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing import shared_memory

from nft.local import shm


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
