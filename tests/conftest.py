"""Shared test settings: offline, CPU-only, no W&B, no colour."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never reach a hub or W&B, and never depend on the terminal.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("NO_COLOR", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def smol_demo(tmp_path_factory):
    """(adapter folder, finished process) of one short SmolLM2 demo run (tests/helpers_smol.py)."""
    from tests.helpers_smol import require_smollm2, run_demo

    require_smollm2()
    out = tmp_path_factory.mktemp("smol") / "adapter"
    return out, run_demo(out)
