"""Link the training paths to the generated data: data/processed/{train,val}.jsonl.

    python -m tasks.data.links
    (make runs it under the data-links stamp before any training)

Training configs read data/processed/train.jsonl and val.jsonl; these are relative
symbolic links to data/synthetic/final_train.jsonl and final_validation.jsonl, so
regenerating the data needs no relinking. Idempotent: a correct link is left as
it is; a wrong link is replaced atomically; a regular file in the way is an error
(it may be someone's data).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tasks import ui

TAG = "DATA"
ROOT = Path(__file__).resolve().parents[2]
LINKS = {
    "data/processed/train.jsonl": "data/synthetic/final_train.jsonl",
    "data/processed/val.jsonl": "data/synthetic/final_validation.jsonl",
}


def link(link_path: Path, target: Path) -> bool:
    """Make link_path a relative symlink to target; True when something changed."""
    if not target.is_file():
        raise ui.Fail(f"{target}: missing (run `make data` first)")
    relative = os.path.relpath(target, link_path.parent)
    if link_path.is_symlink():
        if os.readlink(link_path) == relative:
            return False
    elif link_path.exists():
        raise ui.Fail(f"{link_path}: a regular file is in the way of the link to {target} (move it away, then rerun)")
    link_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = link_path.with_name(f".{link_path.name}.{os.getpid()}.tmp")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(relative, tmp)
    os.replace(tmp, link_path)  # atomic: readers see the old link or the new one
    return True


def run(root: Path = ROOT) -> None:
    for link_name, target_name in LINKS.items():
        link_path, target = root / link_name, root / target_name
        changed = link(link_path, target)
        ui.info(TAG, f"{link_name} -> {target_name}" + ("" if changed else " (already linked)"))
    ui.success("Data links in place")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: this checkout)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.root)


if __name__ == "__main__":
    raise SystemExit(main())
