"""Train on an Apple Silicon Mac in the foreground, teed to a log, with an ETA after 100 steps.

    python -m tasks.run.train_m4 --config configs/training_config_m4.yaml
    make train-m4            # runs `make preflight-m4` first

Confirms and prints the M4 settings (batch 1, accumulation 8, a checkpoint
every 250 steps, sequences of 2048 tokens; a config that differs is shown with
a warning), announces `logs/training_m4_<YYYYmmdd_HHMMSS>.log`, runs
`python -m tasks.train.train` (MLX, or PyTorch on MPS with training.backend: torch)
with every line teed to that log, and after 100
steps prints `[ETA] Estimated completion: X hours Y minutes` (measured since
this start, warm-up left out), recommending an overnight run when it is long.
On the M4 profile with MLX it first fits the run to this Mac's Metal budget
(tasks.setup.m4.fit_overrides: gradient checkpointing, or a shorter max_seq_length,
said in one line; a key set with --set is left alone), and after 20 steps it
writes the measured tokens/s to logs/speed_m4.json for `make plan` and `make eta`.
At the end: `[TRAINING-M4-COMPLETE] Training finished`, the adapter and the
next steps. Ctrl-C makes the training write a checkpoint and stop; `make
resume` continues from it. Blocking by design: a Mac is not reached over SSH
the way a pod is, so there is no tmux here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

from tasks import ui

from tasks.train import checkpoints, mlx_plan

from tasks.run import eta
from tasks.config import ROOT, load_config
from tasks.run.launch import rel

TAG = "TRAINING-M4"
M4_SETTINGS = {  # (where in the config, what it is, the M4 value)
    ("training", "per_device_batch_size"): ("batch size", 1),
    ("training", "gradient_accumulation_steps"): ("gradient accumulation", 8),
    ("training", "save_steps"): ("checkpoint every (steps)", 250),
    ("data", "max_seq_length"): ("sequence length", 2048),
}
ETA_AFTER_STEPS = 100
OVERNIGHT_HOURS = 3.0


def confirm_settings(cfg: dict) -> None:
    """Print the settings that keep a 7B LoRA inside unified memory, and warn about any that differ."""
    differ = []
    for (section, key), (what, want) in M4_SETTINGS.items():
        got = cfg[section][key]
        if got == want:
            ui.success(f"{what}: {got} ({section}.{key})")
        else:
            differ.append(key)
            ui.warning(f"{what}: {got} ({section}.{key}); the M4 setting is {want}")
    t = cfg["training"]
    ui.info(TAG, f"Settings: batch {t['per_device_batch_size']} x accumulation {t['gradient_accumulation_steps']} = effective "
                 f"{t['per_device_batch_size'] * t['gradient_accumulation_steps']}, checkpoints every {t['save_steps']} steps, "
                 f"sequence {cfg['data']['max_seq_length']}")
    if differ:
        ui.warning(f"{len(differ)} setting(s) differ from configs/training_config_m4.yaml: higher values may run out of unified memory")


def write_speed(logs_dir: Path, cfg: dict, config: str, est) -> None:
    """logs/speed_m4.json: the tokens/s of this start's first steps (warm-up left out), for `make plan` and `make eta`."""
    t = cfg["training"]
    record = {"tokens_per_s": est.last["tokens_per_s"], "steps": [int(est.start.get("step") or 0), est.step],
              "measured_at": est.last.get("timestamp"), "config": config, "backend": t["backend"], "profile": cfg["profile"],
              "gradient_checkpointing": t["gradient_checkpointing"], "max_seq_length": cfg["data"]["max_seq_length"],
              "batch": t["per_device_batch_size"], "host": est.start.get("host")}
    ui.write_json_atomic(mlx_plan.speed_path(logs_dir), record)
    ui.info(TAG, f"Measured {record['tokens_per_s']:,.1f} tokens/s over steps {record['steps'][0] + 1}-{est.step}: written to "
                 f"{rel(mlx_plan.speed_path(logs_dir))} (make plan and make eta read it)")


def fit_to_this_mac(cfg: dict, overrides: list[str]) -> tuple[list[str], str]:
    """The overrides that fit an MLX run into this Mac's Metal budget (tasks.setup.m4.fit_overrides), leaving out
    any key the command line sets itself; ([], '') when none are needed."""
    from tasks.setup import m4

    fit, why = m4.fit_overrides(cfg)
    given = {o.partition("=")[0] for o in overrides}
    sets = [f"{k}={str(v).lower()}" for k, v in fit.items() if k not in given]
    return (sets, why) if sets else ([], "")


class Tee:
    """Copies the training's output to the terminal and the log, chunk by chunk (progress redraws included)."""

    def __init__(self, log: Path):
        self.fh = open(log, "ab")
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            self.fh.write(data)
            self.fh.flush()

    def line(self, text: str) -> None:
        self.write((text + "\n").encode("utf-8"))

    def pump(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            self.write(chunk)

    def close(self) -> None:
        self.fh.close()


def _wait(proc: subprocess.Popen, poll_s: float, on_poll) -> int:
    """Wait for the training; the first Ctrl-C is the training's to handle (it checkpoints), so keep waiting."""
    interrupted = False
    while True:
        try:
            rc = proc.wait(timeout=poll_s)
            return rc
        except subprocess.TimeoutExpired:
            on_poll()
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            ui.warning("Ctrl-C: the training writes a checkpoint at the next step and stops (Ctrl-C again stops at once)")


def run(config: str, overrides: list[str] | None = None, logs_dir: str | None = None,
        eta_after_steps: int = ETA_AFTER_STEPS, overnight_hours: float = OVERNIGHT_HOURS, poll_s: float = 1.0) -> int:
    overrides = list(overrides or [])
    cfg = load_config(config, overrides)
    fit, why = fit_to_this_mac(cfg, overrides)
    if fit:
        ui.warning(f"[{TAG}] Memory: {why}")
        overrides += fit
        cfg = load_config(config, overrides)
    output_dir = eta.output_dir_of(cfg)
    logs_dir = Path(logs_dir) if logs_dir else eta.LOGS_DIR
    config = rel(Path(config).resolve()) if Path(config).exists() else config

    ui.info(TAG, f"Config: {config} (profile {cfg['profile']})")
    confirm_settings(cfg)
    log = eta.new_log_path(logs_dir, "training_m4")
    ui.info(TAG, f"Log file: {rel(log)}")
    eta.write_record(logs_dir, cfg["profile"],
                     {"config": config, "overrides": overrides, "gpus": 1, "mode": "m4-foreground", "log_file": str(log),
                      "output_dir": str(output_dir)})
    device = "MPS" if cfg["profile"] == "m4" else f"the {cfg['profile']} profile's"
    if cfg["training"]["backend"] == "mlx":
        device = "MLX (Metal GPU)" if cfg["profile"] == "m4" else "MLX (CPU)"
    ui.info(TAG, f"Starting training on {device} backend")
    ui.warning("If training slows, check Activity Monitor for thermal throttling "
               "(`sudo powermetrics --samplers smc` shows temperatures); keep the Mac plugged in and cool")

    cmd = [sys.executable, "-m", "tasks.train.train", "--config", config]
    for o in overrides:
        cmd += ["--set", o]
    cmd += ["--log-file", rel(log)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")  # an op MPS lacks runs on the CPU instead of failing
    offset = eta.metrics_size(output_dir)
    tee = Tee(log)
    state = {"offset": offset, "events": [], "eta_done": False, "speed_done": False}

    def check_eta() -> None:
        if state["eta_done"]:
            return
        new, state["offset"] = eta.read_events_from(output_dir, state["offset"])
        state["events"] += new
        est = eta.estimate(state["events"])
        if not state["speed_done"] and est.state == "training" and est.last and est.last.get("tokens_per_s") \
                and est.step - int(est.start.get("step") or 0) >= mlx_plan.SPEED_STEPS:
            state["speed_done"] = True
            write_speed(logs_dir, cfg, config, est)
        if est.state != "training" or est.step - int(est.start.get("step") or 0) < eta_after_steps:
            return
        left = eta.remaining_now(est)
        if left is None:
            return
        state["eta_done"] = True
        tee.line(f"[ETA] Estimated completion: {eta.fmt_hm(left)} (step {est.step}/{est.total_steps}, "
                 f"{est.steps_per_s:.3g} steps/s since this start)")
        if left >= overnight_hours * 3600:
            tee.line(f"[{TAG}] Recommend running overnight (keep the Mac awake and on power: `caffeinate -i make train-m4`)")

    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        pump = threading.Thread(target=tee.pump, args=(proc.stdout,), daemon=True)
        pump.start()
        rc = _wait(proc, poll_s, check_eta)
        pump.join()
        check_eta()
    finally:
        tee.close()

    if rc == 0 and (output_dir / checkpoints.FINAL).is_file():
        ui.info(f"{TAG}-COMPLETE", "Training finished")
        ui.info(TAG, f"Adapter: {rel(output_dir)}/ (adapter_model.safetensors, tokenizer, chat template, resolved config)")
        ui.info(TAG, f"Log: {rel(log)}")
        ui.info(TAG, f"Next: `make eval ADAPTER={rel(output_dir)}`, then `make export ADAPTER={rel(output_dir)}` "
                     f"for Ollama/AnythingLLM (docs/DEPLOYMENT.md)")
        return 0
    code = rc if rc in (1, 2) else 1
    what = f"exit code {rc}" if rc >= 0 else f"signal {-rc}"
    ui.error(f"Training stopped with {what} before the final adapter; the log is {rel(log)}. "
             + ("Fix the crash loop as the message above says." if rc == 2 else
                "`make resume` continues from the newest complete checkpoint."))
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_m4.yaml", help="training config (default: the M4 profile)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. training.max_steps=20 (repeatable)")
    parser.add_argument("--logs-dir", default=os.environ.get("WEATHERMAN_LOGS_DIR"), help="where logs go (default: logs/)")
    parser.add_argument("--eta-after-steps", type=int, default=ETA_AFTER_STEPS, help="steps after the start before the ETA (default 100)")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides, args.logs_dir, args.eta_after_steps)


if __name__ == "__main__":
    raise SystemExit(main())
