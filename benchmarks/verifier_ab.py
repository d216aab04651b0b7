"""A/B throughput of ``nft.reward.compute_score`` between two checkouts of this repository.

Usage::

    git worktree add /tmp/before <commit>
    python benchmarks/verifier_ab.py /tmp/before . [--rounds 4] [--labelled-rows 399]

For each checkout, in a fresh process that imports ``nft.reward`` from that checkout: the in-process CPU
time (``time.process_time``; math-verify's work runs in the verifier's worker processes and is not
counted) of scoring ``benchmarks/verifier.py``'s realistic corpus (2000 responses, seed 0, built by the
*second* checkout's benchmark so both score the same texts) and the first ``--labelled-rows`` rows of
the second checkout's labelled set; best of 7 passes; rounds alternate between the two checkouts so a
change in machine load hits both. Prints responses per CPU second per round, then the range per side.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
root, corpus_root, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
import nft.reward as R
assert R.__file__.startswith(root), (R.__file__, root)
sys.path.insert(0, corpus_root + "/benchmarks")
import verifier as V
corpora = {"realistic": V.make_realistic(2000, 0),
           "labelled": V.load_labelled(corpus_root + "/tests/data/verifier/labelled.jsonl")[:rows]}
out = {}
for name, items in corpora.items():
    best = float("inf")
    for _ in range(7):
        c0 = time.process_time()
        for it in items:
            R.compute_score("math", it["solution"], it["ground_truth"])
        best = min(best, time.process_time() - c0)
    out[name] = round(len(items) / best)
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--labelled-rows", type=int, default=399)
    args = ap.parse_args()
    roots = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    seen: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for side, root in roots.items():
            res = subprocess.run([sys.executable, "-c", CHILD, root, roots["after"], str(args.labelled_rows)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(res.stderr[-2000:], file=sys.stderr)
                return 1
            figures = json.loads(res.stdout.strip().splitlines()[-1])
            seen[side].append(figures)
            print(f"round {r} {side:6s} " + "  ".join(f"{k} {v} resp/s" for k, v in figures.items()), flush=True)
    for side, rows in seen.items():
        print(f"{side:6s} " + "  ".join(f"{k} {min(x[k] for x in rows)}-{max(x[k] for x in rows)}" for k in rows[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
