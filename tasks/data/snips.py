"""Real people's weather questions (SNIPS, CC0), split once into phrasing and a held-out set.

    python -m tasks.data.snips          # counts of each split and of each slot type

data/real/snips_getweather.jsonl (see data/real/README.md for its source and licence) holds 1,798
crowd-written questions with their slots. A question is held out when the first byte of the SHA-256
of its stripped, lower-cased text is divisible by 5 (342 of 1,798): a rule that depends on the text
alone, so adding questions, reordering the file or changing a seed never moves one across. The
generator may use only `phrasing()`; evaluation uses only `heldout()`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
SNIPS = ROOT / "data" / "real" / "snips_getweather.jsonl"
TAG = "DATA"


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


def is_heldout(text: str) -> bool:
    """True for the fixed fifth of questions that generation never sees."""
    return hashlib.sha256(_key(text).encode()).digest()[0] % 5 == 0


def load(path: Path = SNIPS) -> list[dict]:
    """Every question as {"text", "slots": [{"text", "entity"}]}, in file order."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ui.Fail(f"{path}:{number}: not JSON ({e.msg}) (restore the file from git)") from e
            if not isinstance(row.get("text"), str) or not isinstance(row.get("slots"), list):
                raise ui.Fail(f"{path}:{number}: expected an object with 'text' and 'slots' (restore the file from git)")
            rows.append(row)
    return rows


def phrasing(path: Path = SNIPS) -> list[dict]:
    """The questions the data generator may use as phrasing."""
    return [r for r in load(path) if not is_heldout(r["text"])]


def heldout(path: Path = SNIPS) -> list[dict]:
    """The questions kept for evaluation only."""
    return [r for r in load(path) if is_heldout(r["text"])]


def run() -> None:
    rows = load()
    held = [r for r in rows if is_heldout(r["text"])]
    ui.info(TAG, f"{SNIPS.relative_to(ROOT)}: {len(rows)} questions, {len(rows) - len(held)} for phrasing, {len(held)} held out")
    for entity, n in Counter(s["entity"] for r in rows for s in r["slots"]).most_common():
        ui.info(TAG, f"  slot {entity}: {n}")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    return ui.main_guard(run)


if __name__ == "__main__":
    raise SystemExit(main())
