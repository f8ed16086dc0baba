"""See a run without W&B: training and evaluation loss, learning rate and tokens/s as a PNG in the run folder.

    python -m tasks.run.plot --env h100                 # the run `make train-h100` / `make resume` last started
    python -m tasks.run.plot --config configs/training_config_cpu.yaml [--out curves.png]
    make plot

Reads `<output_dir>/metrics.jsonl` (docs/ARCHITECTURE.md) and writes `<output_dir>/training_curves.png`
with tasks/train/curves.py. Training already draws it at each evaluation and at the end, so a running
or finished run has an up-to-date picture; this verb draws it on demand (after `wandb`-less runs, from
a copied run folder, or into another file with --out).
"""

from __future__ import annotations

import argparse
import os

from tasks import ui
from tasks.config import PROFILE_CONFIGS
from tasks.run import eta
from tasks.train import curves

TAG = "PLOT"


def run(config: str | None = None, overrides: list[str] | None = None, env: str | None = None,
        logs_dir: str | None = None, out: str | None = None) -> None:
    r = eta.locate(config, overrides, env, logs_dir)
    events = eta.read_events(r.output_dir)
    path = curves.write_plot(r.output_dir, events, out)
    if path is None:
        raise ui.Fail(f"{r.output_dir / eta.METRICS}: no training step logged yet, nothing to draw "
                      "(start a run, or wait for its first logging step)")
    line = curves.loss_line(events)
    if line:
        ui.info(TAG, line)
    ui.success(f"[{TAG}] Wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="the run's training config (default: the latest run of --env)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides the run was started with (repeatable)")
    parser.add_argument("--env", default=None, choices=sorted(PROFILE_CONFIGS), help="profile whose latest run to draw (default: this machine's)")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where run logs and records live (default: logs/)")
    parser.add_argument("--out", default=None, help=f"where to write the PNG (default: <run folder>/{curves.PNG})")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides, args.env, args.logs_dir, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
