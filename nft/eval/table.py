"""Markdown table shaped like the paper's Table 1, and the published numbers as reference rows.

Columns: AIME24, MATH500, AIME25, AMC23, Olympiad, Minerva, avg (the paper's order); extra
benchmarks are appended after them. A cell is the benchmark's headline metric (avg@k in percent).
``avg`` is the unweighted mean of the six paper columns; a row lacking one of them gets the mean of
the cells it has, marked ``*`` (not comparable with the paper's avg).
"""

from __future__ import annotations

import json

from .benchmarks import BENCHMARKS

__all__ = ["PAPER_COLUMNS", "PAPER_TABLE1", "load_results", "reference_rows", "render_table"]

PAPER_COLUMNS = [b.column for b in BENCHMARKS.values()]  # AIME24 MATH500 AIME25 AMC23 Olympiad Minerva

# Source: Chen et al., "Bridging Supervised Learning and Reinforcement Learning in Math Reasoning",
# arXiv 2505.18116, Table 1 (avg@32 for AIME24/AIME25/AMC23, avg@1 for MATH500/Olympiad/Minerva;
# top-p 0.7, temperature 1.0 for 7B and 0.6 for 32B).
# Row: (size, model, [AIME24, MATH500, AIME25, AMC23, Olympiad, Minerva], avg)
PAPER_TABLE1: list[tuple[str, str, list[float], float]] = [
    ("7B", "Qwen2.5-Math-7B", [13.3, 69.0, 5.5, 45.8, 34.7, 21.3], 31.6),
    ("7B", "+ GRPO", [30.2, 80.4, 17.1, 79.5, 51.8, 38.2], 49.5),
    ("7B", "+ Dr.GRPO", [31.8, 83.4, 15.7, 80.2, 49.6, 38.2], 49.8),
    ("7B", "+ DAPO", [33.1, 81.6, 18.7, 85.0, 49.9, 39.3], 51.2),
    ("7B", "+ RFT", [33.7, 79.8, 13.4, 79.7, 44.3, 38.6], 48.3),
    ("7B", "+ NFT", [32.0, 83.2, 18.3, 88.5, 47.3, 40.8], 51.7),
    ("32B", "Qwen2.5-32B", [4.1, 68.6, 1.0, 45.0, 31.1, 27.9], 29.6),
    ("32B", "+ DAPO", [44.1, 89.2, 33.4, 90.9, 54.1, 47.5], 59.9),
    ("32B", "+ RFT", [29.9, 86.2, 19.1, 92.4, 45.3, 44.1], 52.8),
    ("32B", "+ NFT", [37.8, 88.4, 31.5, 93.8, 55.0, 48.9], 59.2),
]


def reference_rows(which: str) -> list[dict]:
    """Paper rows as ``{"label", "cells": {column: value}, "average"}``; ``which`` is ``7B``,
    ``32B``, ``all`` or ``none``."""
    if which not in ("7B", "32B", "all", "none"):
        raise ValueError(f"--reference must be 7B, 32B, all or none, got {which!r}")
    rows = []
    for size, model, vals, avg in PAPER_TABLE1:
        if which in (size, "all"):
            rows.append({"label": f"paper: {model}" if not model.startswith("+") else f"paper {size}: {model}",
                         "cells": dict(zip(PAPER_COLUMNS, vals)), "average": avg, "reference": True})
    return rows


def load_results(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            res = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"results file '{path}' does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(res, dict) or "benchmarks" not in res or "label" not in res:
        raise ValueError(f"{path}: not an nft.eval results file (needs 'label' and 'benchmarks')")
    return res


def _row_from_results(res: dict, with_ci: bool) -> dict:
    cells, cis, ks = {}, {}, {}
    for info in res["benchmarks"].values():
        col = info["column"]
        cells[col] = info["headline"]
        ks[col] = info["headline_metric"]
        cis[col] = info["metrics"][info["headline_metric"]]["ci95"]
    return {"label": res["label"], "cells": cells, "cis": cis if with_ci else {}, "ks": ks, "reference": False}


def render_table(results: list[dict], *, reference: str = "none", with_ci: bool = False, digits: int = 1) -> str:
    """Markdown table: one row per results dict (from :func:`nft.eval.score.compute_results`),
    followed by the paper's rows for ``reference``."""
    rows = [_row_from_results(r, with_ci) for r in results]
    ref = reference_rows(reference)
    extra = []
    for r in rows:
        for col in r["cells"]:
            if col not in PAPER_COLUMNS and col not in extra:
                extra.append(col)
    cols = PAPER_COLUMNS + extra
    header = "| model | " + " | ".join(cols) + " | avg |"
    sep = "|---|" + "---|" * (len(cols) + 1)
    lines = [header, sep]
    incomplete = False
    for r in rows + ref:
        cells = []
        for col in cols:
            if col in r["cells"]:
                txt = f"{r['cells'][col]:.{digits}f}"
                if r.get("cis") and col in r["cis"]:
                    lo, hi = r["cis"][col]
                    txt += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
                cells.append(txt)
            else:
                cells.append("–")
        if r.get("reference"):
            avg = f"{r['average']:.{digits}f}"
        else:
            if all(c in r["cells"] for c in PAPER_COLUMNS):
                avg = f"{sum(r['cells'][c] for c in PAPER_COLUMNS) / len(PAPER_COLUMNS):.{digits}f}"
            else:
                present = list(r["cells"].values())
                avg = f"{sum(present) / len(present):.{digits}f}*" if present else "–"
                incomplete = True
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {avg} |")
    notes = []
    ks = sorted({f"{col}: {k}" for r in rows for col, k in r["ks"].items()}, key=lambda s: cols.index(s.split(":")[0]))
    if ks:
        notes.append("Cells: " + ", ".join(ks) + " (percent).")
    if with_ci:
        notes.append("Brackets: bootstrap 95% interval over problems.")
    if incomplete:
        notes.append("avg*: mean over the benchmarks present, not the paper's six.")
    if ref:
        notes.append("paper rows: Chen et al., arXiv 2505.18116, Table 1.")
    return "\n".join(lines) + ("\n\n" + " ".join(notes) if notes else "") + "\n"
