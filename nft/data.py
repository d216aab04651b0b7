"""Convert and validate math RL data into verl's RL parquet format; patch the Qwen2.5-32B chat template.

Output rows (one parquet per input file), as read by ``verl.utils.dataset.rl_dataset.RLHFDataset``::

    data_source   str   benchmark / dataset name (validation metrics are grouped by it)
    prompt        list  chat messages [{"role": str, "content": str}, ...], non-empty
    ability       str   "math" unless the input says otherwise
    reward_model  dict  {"ground_truth": str (non-empty), "style": "rule"}
    extra_info    dict  {"index": int (row position in the output), "split": str, "source_row": int}

Accepted inputs:

* verl-style parquet (DAPO-Math-17k, the authors' ``ChenDRAG/VeRL_math_validation`` files): columns
  ``prompt`` (chat list) and ``reward_model.ground_truth`` (or a top-level ``answer``/``ground_truth``),
  optional ``data_source`` / ``ability``. The prompt is kept verbatim unless ``--template`` says otherwise.
* JSONL benchmarks, one ``{"problem": str, "answer": str}`` per line; the problem becomes one user
  message through the template (``keep`` = verbatim).

Deduplication (on by default for files whose name contains ``dapo-math-17k``): rows with the same
(prompt messages, ground truth) are kept once, first occurrence wins. The raw DAPO-Math-17k file repeats
~17.4K problems ~100x (~1.79M rows).

Bad rows (missing/empty answer, empty or non-list prompt, message without string role/content,
JSON that is not an object) raise ``BadRowError`` naming file and row, or with ``skip_bad=True`` are
skipped and counted.

CLI::

    python -m nft.data convert IN [IN ...] --out-dir DIR [--skip-bad] [--template keep|boxed|dapo]
                                            [--dedup|--no-dedup] [--data-source NAME] [--split NAME]
                                            [--name-map OLD=NEW ...]
    python -m nft.data check-hub [--endpoint URL] [--timeout S]
    python -m nft.data patch-chat-template --reference DIR_7B --target DIR_32B
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOXED_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'
TEMPLATES = ("keep", "boxed", "dapo")

# File stem (lower case) -> data_source for inputs that carry none (the JSONL benchmarks).
KNOWN_SOURCES = {
    "aime24": "aime24",
    "aime25": "aime25",
    "amc2023": "amc23",
    "amc23": "amc23",
    "math500": "math500",
    "minervamath": "minerva",
    "minerva_math": "minerva",
    "olympiadbench": "olympiadbench",
    "dapo-math-17k": "math_dapo",
}


class BadRowError(ValueError):
    """A row that cannot become a verl RL sample; the message names file and row."""


@dataclass
class ConvertStats:
    path: str
    out_path: str
    rows_in: int = 0
    rows_out: int = 0
    bad: int = 0
    duplicates: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.out_path}: {self.rows_out} rows (read {self.rows_in}, duplicates removed "
            f"{self.duplicates}, bad rows skipped {self.bad})"
        )


# --------------------------------------------------------------------------------------------- prompts
def extract_problem(text: str) -> str:
    """Strip a known instruction wrapper (DAPO's or the Qwen-math boxed suffix) from a prompt text."""
    t = text
    if t.startswith(DAPO_PREFIX):
        t = t[len(DAPO_PREFIX) :]
        if t.endswith(DAPO_SUFFIX):
            t = t[: -len(DAPO_SUFFIX)]
    if t.endswith(BOXED_SUFFIX):
        t = t[: -len(BOXED_SUFFIX)]
    return t


def apply_template(problem: str, template: str) -> str:
    """``keep``: text unchanged; ``boxed``: problem + Qwen-math boxed instruction; ``dapo``: DAPO's prompt."""
    if template == "keep":
        return problem
    core = extract_problem(problem)
    if template == "boxed":
        return core + BOXED_SUFFIX
    if template == "dapo":
        return DAPO_PREFIX + core + DAPO_SUFFIX
    raise ValueError(f"unknown template {template!r}; choose one of {TEMPLATES}")


# --------------------------------------------------------------------------------------------- reading
def _to_py(x: Any) -> Any:
    """numpy arrays / scalars from pandas-read parquet -> plain Python."""
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return x.tolist()
    return x


def _iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield where, BadRowError(f"{where}: invalid JSON ({e.msg})")
                continue
            yield where, obj


def _iter_parquet(path: Path, batch_size: int = 65536) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        for rec in batch.to_pylist():
            yield f"{path}: row {row}", rec
            row += 1


def _answer_of(rec: dict) -> Any:
    rm = rec.get("reward_model")
    if isinstance(rm, dict) and "ground_truth" in rm:
        return rm.get("ground_truth")
    for key in ("answer", "ground_truth", "solution"):
        if key in rec:
            return rec[key]
    return None


def normalize_row(rec: Any, where: str, *, template: str, data_source: str, split: str) -> dict:
    """Validate one input record and return the verl row (without ``extra_info.index``)."""
    if not isinstance(rec, dict):
        raise BadRowError(f"{where}: expected an object/record, got {type(rec).__name__}")

    answer = _to_py(_answer_of(rec))
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if isinstance(answer, bool) or answer is None:
        raise BadRowError(f"{where}: missing answer (reward_model.ground_truth / answer)")
    if isinstance(answer, (int, float)):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise BadRowError(f"{where}: empty or non-string answer {answer!r}")

    if "prompt" in rec:
        prompt = _to_py(rec["prompt"])
        if not isinstance(prompt, list):
            raise BadRowError(f"{where}: prompt must be a list of chat messages, got {type(prompt).__name__}")
        if not prompt:
            raise BadRowError(f"{where}: prompt is an empty list")
        msgs = []
        for j, m in enumerate(prompt):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise BadRowError(f"{where}: prompt[{j}] must be a dict with string 'role' and 'content'")
            msgs.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "user" and m["content"].strip() for m in msgs):
            raise BadRowError(f"{where}: prompt has no non-empty user message")
        if template != "keep":
            last_user = max(j for j, m in enumerate(msgs) if m["role"] == "user")
            msgs[last_user]["content"] = apply_template(msgs[last_user]["content"], template)
    elif "problem" in rec:
        problem = rec["problem"]
        if not isinstance(problem, str) or not problem.strip():
            raise BadRowError(f"{where}: empty or non-string problem")
        msgs = [{"role": "user", "content": apply_template(problem, template)}]
    else:
        raise BadRowError(f"{where}: no 'prompt' (chat list) or 'problem' field")

    ds = rec.get("data_source") or data_source
    ability = rec.get("ability") or "math"
    if not isinstance(ds, str) or not isinstance(ability, str):
        raise BadRowError(f"{where}: data_source and ability must be strings")
    return {
        "data_source": ds,
        "prompt": msgs,
        "ability": ability,
        "reward_model": {"ground_truth": answer.strip(), "style": "rule"},
        "extra_info": {"index": -1, "split": split, "source_row": -1},
    }


def infer_data_source(path: Path) -> str:
    stem = path.name.split(".")[0].lower()
    for key, name in KNOWN_SOURCES.items():
        if stem == key or stem.startswith(key):
            return name
    return stem


def convert_file(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    template: str = "keep",
    dedup: bool | None = None,
    skip_bad: bool = False,
    data_source: str | None = None,
    split: str | None = None,
) -> ConvertStats:
    """Convert one parquet/JSONL file to a verl RL parquet; return counts. See the module docstring."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    in_path, out_path = Path(in_path), Path(out_path)
    if template not in TEMPLATES:
        raise ValueError(f"--template must be one of {TEMPLATES}, got {template!r}")
    if not in_path.is_file():
        raise FileNotFoundError(f"input file not found: {in_path}")
    suffix = in_path.suffix.lower()
    if suffix == ".parquet":
        rows = _iter_parquet(in_path)
    elif suffix in (".jsonl", ".json"):
        rows = _iter_jsonl(in_path)
    else:
        raise ValueError(f"{in_path}: unsupported file type {suffix!r} (use .parquet or .jsonl)")
    if dedup is None:
        dedup = "dapo-math-17k" in in_path.name.lower()
    ds_default = data_source or infer_data_source(in_path)
    split = split or ("train" if "dapo-math-17k" in in_path.name.lower() else "test")

    stats = ConvertStats(path=str(in_path), out_path=str(out_path))
    seen: set = set()
    out: list[dict] = []
    for src_row, (where, rec) in enumerate(rows):
        stats.rows_in += 1
        try:
            if isinstance(rec, BadRowError):
                raise rec
            row = normalize_row(rec, where, template=template, data_source=ds_default, split=split)
        except BadRowError as e:
            if not skip_bad:
                raise
            stats.bad += 1
            if len(stats.bad_examples) < 5:
                stats.bad_examples.append(str(e))
            continue
        if dedup:
            key = (tuple((m["role"], m["content"]) for m in row["prompt"]), row["reward_model"]["ground_truth"])
            if key in seen:
                stats.duplicates += 1
                continue
            seen.add(key)
        row["extra_info"] = {"index": len(out), "split": split, "source_row": src_row}
        out.append(row)
    if stats.rows_in == 0:
        raise ValueError(f"{in_path}: file has no rows")
    if not out:
        raise ValueError(f"{in_path}: no valid rows left ({stats.bad} bad rows skipped)")

    schema = pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
            ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string()), ("source_row", pa.int64())])),
        ]
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(out, schema=schema), tmp)
    os.replace(tmp, out_path)
    stats.rows_out = len(out)
    return stats


def validate_file(path: str | os.PathLike) -> int:
    """Check a converted parquet against the output contract; return its row count or raise BadRowError."""
    import pyarrow.parquet as pq

    path = Path(path)
    table = pq.read_table(path)
    missing = {"data_source", "prompt", "ability", "reward_model", "extra_info"} - set(table.column_names)
    if missing:
        raise BadRowError(f"{path}: missing columns {sorted(missing)}")
    for i, rec in enumerate(table.to_pylist()):
        where = f"{path}: row {i}"
        normalize_row(rec, where, template="keep", data_source="", split="")
        if not rec["data_source"]:
            raise BadRowError(f"{where}: empty data_source")
        if not isinstance(rec["extra_info"], dict) or rec["extra_info"].get("index") != i:
            raise BadRowError(f"{where}: extra_info.index must equal the row position {i}")
    return table.num_rows


# --------------------------------------------------------------------------------------------- hub probe
def check_hub(endpoint: str | None = None, timeout: float = 10.0) -> str:
    """Return the endpoint if the Hugging Face Hub answers over HTTP, else raise ConnectionError (clear text)."""
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        raise ConnectionError(
            "HF_HUB_OFFLINE is set: downloads are disabled. Unset it, or put the files in place by hand "
            "(see docs/cluster.md, 'Offline clusters')."
        )
    url = endpoint + "/api/models?limit=1"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (fixed https/http endpoint)
            r.read(64)
    except urllib.error.HTTPError:
        return endpoint  # the server answered (rate limit, auth...): network is fine
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise ConnectionError(
            f"cannot reach the Hugging Face Hub at {endpoint} ({reason}). Check the network/proxy "
            "(HTTPS_PROXY), set HF_ENDPOINT to a reachable mirror, or download the files on a machine with "
            "network access and copy them here (see docs/cluster.md, 'Offline clusters')."
        ) from None
    return endpoint


# --------------------------------------------------------------------------------------------- chat template
def read_chat_template(model_dir: str | os.PathLike) -> str:
    """The chat template of an HF folder: ``chat_template.jinja`` if present (it wins in transformers),
    else ``tokenizer_config.json["chat_template"]``."""
    d = Path(model_dir)
    jinja = d / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg_path = d / "tokenizer_config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {d} a downloaded Hugging Face model folder?")
    tpl = json.loads(cfg_path.read_text(encoding="utf-8")).get("chat_template")
    if isinstance(tpl, list):  # [{"name": "default", "template": ...}, ...]
        tpl = next((t.get("template") for t in tpl if t.get("name") == "default"), None)
    if not isinstance(tpl, str) or not tpl.strip():
        raise ValueError(f"{cfg_path} has no chat_template (and {jinja} does not exist)")
    return tpl


def patch_chat_template(reference_dir: str | os.PathLike, target_dir: str | os.PathLike) -> bool:
    """Copy the reference model's chat template (Qwen2.5-Math-7B: default system prompt "Please reason step
    by step, and put your final answer within \\boxed{}.") into the target's tokenizer config (Qwen2.5-32B).

    Writes ``tokenizer_config.json["chat_template"]`` (and ``chat_template.jinja`` if the target has one),
    keeping the originals once as ``*.orig``. Returns False if the target already had that template.
    """
    template = read_chat_template(reference_dir)
    tgt = Path(target_dir)
    cfg_path = tgt / "tokenizer_config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} not found: is {tgt} a downloaded Hugging Face model folder?")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    jinja = tgt / "chat_template.jinja"
    already = cfg.get("chat_template") == template and (
        not jinja.is_file() or jinja.read_text(encoding="utf-8") == template
    )
    if already:
        return False
    for p in (cfg_path, jinja):
        if p.is_file() and not p.with_name(p.name + ".orig").exists():
            shutil.copy2(p, p.with_name(p.name + ".orig"))
    cfg["chat_template"] = template
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if jinja.is_file():
        jinja.write_text(template, encoding="utf-8")
    return True


# --------------------------------------------------------------------------------------------- CLI
def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nft.data", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("convert", help="convert + validate parquet/JSONL files into verl RL parquet")
    c.add_argument("inputs", nargs="+")
    c.add_argument("--out-dir", required=True)
    c.add_argument("--template", choices=TEMPLATES, default="keep")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--dedup", dest="dedup", action="store_true", default=None)
    g.add_argument("--no-dedup", dest="dedup", action="store_false")
    c.add_argument("--skip-bad", action="store_true", help="skip and count bad rows instead of failing")
    c.add_argument("--data-source", default=None, help="data_source for rows that carry none")
    c.add_argument("--split", default=None)
    c.add_argument("--name-map", nargs="*", default=[], metavar="IN_NAME=OUT_NAME",
                   help="output file name per input file name (default: input stem + .parquet)")

    h = sub.add_parser("check-hub", help="fail fast when the Hugging Face Hub is unreachable")
    h.add_argument("--endpoint", default=None)
    h.add_argument("--timeout", type=float, default=10.0)

    t = sub.add_parser("patch-chat-template", help="give the 32B tokenizer the 7B's chat template")
    t.add_argument("--reference", required=True, help="Qwen2.5-Math-7B folder")
    t.add_argument("--target", required=True, help="Qwen2.5-32B folder (edited in place)")

    a = p.parse_args(argv)
    try:
        if a.cmd == "check-hub":
            print(f"Hugging Face Hub reachable: {check_hub(a.endpoint, a.timeout)}")
            return 0
        if a.cmd == "patch-chat-template":
            changed = patch_chat_template(a.reference, a.target)
            print(f"{a.target}: chat template {'replaced by' if changed else 'already equals'} {a.reference}'s")
            return 0
        name_map = {}
        for item in a.name_map:
            if "=" not in item:
                raise ValueError(f"--name-map entries look like IN_NAME=OUT_NAME, got {item!r}")
            k, v = item.split("=", 1)
            name_map[k] = v
        total_bad = 0
        for inp in a.inputs:
            name = name_map.get(Path(inp).name, Path(inp).name.split(".")[0] + ".parquet")
            out = Path(a.out_dir) / name
            st = convert_file(inp, out, template=a.template, dedup=a.dedup, skip_bad=a.skip_bad,
                              data_source=a.data_source, split=a.split)
            validate_file(out)
            print(st.line(), flush=True)
            for ex in st.bad_examples:
                print(f"  skipped: {ex}")
            total_bad += st.bad
        if total_bad:
            print(f"{total_bad} bad rows skipped in total (--skip-bad)")
        return 0
    except (BadRowError, ValueError, FileNotFoundError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main())
