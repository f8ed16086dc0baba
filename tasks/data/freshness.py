"""Is the tracked dataset up to date with its inputs? Decided by content, never by file times.

    python3 -m tasks.data.freshness            # one line: fresh, or why it is stale; exit 0 fresh, 1 stale
    python3 -m tasks.data.freshness --state    # prints `fresh` or `stale` only (what the Makefile reads)

A fresh clone gives every file the time of the checkout, so comparing times would
regenerate the tracked 16,000 conversations on the first `make train`; editing a
comment in a training config would too. Instead `tasks.data.generate` records a
digest of its real inputs in `data/synthetic/merge_metadata.json` ("inputs"), and
the data is stale exactly when today's digest differs, or a data file is missing.

The inputs: every module of tasks/data/ except the ones that only read the data
(links, validate, this one), configs/tools.json, configs/chat_template.jinja,
tasks/train/template.py, data/real/*.jsonl, and from each training config only the
value the metadata uses (data.max_seq_length), not the file's bytes.

Standard library only, Python 3.8+: Make runs it with the system python3 before any
project environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
METADATA = Path("data") / "synthetic" / "merge_metadata.json"
DATA_FILES = (Path("data") / "synthetic" / "final_train.jsonl", Path("data") / "synthetic" / "final_validation.jsonl")
# Modules of tasks/data/ that read the dataset but do not shape it.
NOT_INPUTS = {"__init__.py", "links.py", "validate.py", "freshness.py"}
FIXED_INPUTS = ("configs/tools.json", "configs/chat_template.jinja", "tasks/train/template.py")
# The profiles whose sequence lengths merge_metadata.json reports (generate.py reads this tuple): other
# configs, such as the SmolLM2 demo's, do not shape the data.
PROFILES = ("cpu", "m4", "h100")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
_MAX_SEQ = re.compile(r"^\s+max_seq_length\s*:\s*([^#\s]+)")


def input_files(root: Path = ROOT) -> list[str]:
    """The files whose bytes shape the dataset, relative to `root`, sorted."""
    files = [p for p in (root / "tasks" / "data").rglob("*.py") if p.name not in NOT_INPUTS]
    files += [root / f for f in FIXED_INPUTS]
    files += list((root / "data" / "real").glob("*.jsonl"))
    # the world the generator draws from: places, time zones, climate normals
    files += [p for p in (root / "data" / "world").glob("*") if p.name.endswith((".tsv", ".tsv.gz", ".txt.gz"))]
    return sorted(str(p.relative_to(root).as_posix()) for p in files if p.is_file())


def max_seq_length(text: str) -> str | None:
    """`data.max_seq_length` of a training config, read without a YAML library (the configs are block YAML)."""
    section = None
    for line in text.splitlines():
        top = _TOP_KEY.match(line)
        if top:
            section = top.group(1)
            continue
        m = _MAX_SEQ.match(line)
        if m and section == "data":
            return m.group(1)
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(root: Path = ROOT) -> dict:
    """{"sha256": one digest of everything, "files": {path: sha256}, "max_seq_length": {config: value}}."""
    files = {name: _sha256(root / name) for name in input_files(root)}
    configs = [root / "configs" / f"training_config_{profile}.yaml" for profile in PROFILES]
    lengths = {p.relative_to(root).as_posix(): max_seq_length(p.read_text(encoding="utf-8"))
               for p in sorted(configs) if p.is_file()}
    whole = hashlib.sha256(json.dumps({"files": files, "max_seq_length": lengths}, sort_keys=True).encode()).hexdigest()
    return {"sha256": whole, "files": files, "max_seq_length": lengths}


def _changed(recorded: dict, now: dict, what: str) -> list[str]:
    out = []
    for key in sorted(set(recorded) | set(now)):
        if key not in now:
            out.append(f"{key} is gone")
        elif key not in recorded:
            out.append(f"{key} is new")
        elif recorded[key] != now[key]:
            out.append(f"{key} changed" if what == "files" else f"{key}: data.max_seq_length {recorded[key]} -> {now[key]}")
    return out


def stale_reasons(root: Path = ROOT) -> list[str]:
    """Why the dataset must be regenerated; empty when it is up to date with its inputs."""
    meta_path = root / METADATA
    missing = [str(p) for p in (*DATA_FILES, METADATA) if not (root / p).is_file()]
    if missing:
        return [f"{', '.join(missing)} missing"]
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("inputs")
    except (ValueError, AttributeError):
        return [f"{METADATA} is not readable JSON"]
    if not isinstance(recorded, dict) or "sha256" not in recorded:
        return [f"{METADATA} records no input digest (written by an older generator)"]
    now = digest(root)
    if recorded["sha256"] == now["sha256"]:
        return []
    reasons = _changed(recorded.get("files") or {}, now["files"], "files")
    reasons += _changed(recorded.get("max_seq_length") or {}, now["max_seq_length"], "lengths")
    return reasons or ["the input digest differs"]


def run(state_only: bool = False, root: Path = ROOT) -> int:
    reasons = stale_reasons(root)
    if state_only:
        print("stale" if reasons else "fresh")
    elif reasons:
        print(f"[DATA] The dataset is stale, regenerating it: {'; '.join(reasons)}")
    else:
        print(f"[DATA] The dataset is up to date with its inputs ({METADATA} records them)")
    return 1 if reasons else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", action="store_true", help="print only `fresh` or `stale`")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.state)


if __name__ == "__main__":
    raise SystemExit(main())
