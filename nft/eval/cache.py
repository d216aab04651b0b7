"""Append-only JSONL record caches that make generation and scoring resumable.

One JSON object per line with a ``key`` field. A process killed mid-write leaves a partial last
line: :func:`open_append` cuts it off (with a warning) before appending; a malformed line anywhere
else is an error naming the file and line. The last record of a key wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

__all__ = ["open_append", "read_records", "record_key", "settings_key"]


def settings_key(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def record_key(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def _repair_tail(path: str) -> None:
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # find the last newline; everything after it is a partial record
        pos = size - 1
        chunk = 1 << 16
        cut = 0
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            data = f.read(pos - start)
            i = data.rfind(b"\n")
            if i >= 0:
                cut = start + i + 1
                break
            pos = start
        print(
            f"[nft.eval] {path}: dropping a partial last record ({size - cut} bytes) left by an interrupted run",
            file=sys.stderr,
        )
        f.truncate(cut)


def read_records(path: str) -> dict[str, dict]:
    """Records of ``path`` by key ({} if the file does not exist). A partial last line is ignored."""
    if not os.path.exists(path):
        return {}
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines) and not line.endswith("\n"):
                continue  # interrupted write; open_append will cut it
            raise ValueError(f"{path}:{lineno}: corrupt cache record ({e.msg}); delete the line or the file") from None
        if not isinstance(rec, dict) or "key" not in rec:
            raise ValueError(f"{path}:{lineno}: cache record without 'key'")
        out[rec["key"]] = rec
    return out


class _Appender:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            _repair_tail(path)
        self.f = open(path, "a", encoding="utf-8")

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_append(path: str) -> _Appender:
    return _Appender(path)
