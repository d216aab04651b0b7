"""Evaluation: checkpoint -> responses -> verifier -> avg@k / pass@k / maj@k -> the paper's Table 1.

CLI: ``python -m nft.eval {generate,score,run,table}`` (docs/evaluation.md). Library entry points:
:func:`nft.eval.metrics.problem_metrics`, :func:`nft.eval.score.compute_results`,
:func:`nft.eval.table.render_table`, :func:`nft.eval.generate.generate`.
"""

from .metrics import aggregate, bootstrap_ci, maj_at_n, pass_at_k, problem_metrics
from .table import PAPER_TABLE1, render_table

__all__ = ["PAPER_TABLE1", "aggregate", "bootstrap_ci", "maj_at_n", "pass_at_k", "problem_metrics", "render_table"]
