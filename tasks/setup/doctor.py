"""Every check of a profile, changing nothing: one ✅/⚠️/❌ line per check with the measured value and the fix.

    make doctor [ENV=h100|m4|cpu]
    python3 -m tasks.setup.doctor --env h100

Runs the same checks as `make setup-h100` / `make setup-m4` (machine, environment
from inside, config, data, W&B, tmux; on the pod the Hugging Face token, the access to
the gated model and the model on the volume) but installs, writes and logs in nothing: the
W&B key is looked up, not verified (`wandb login --verify` stores the key). A
failed check does not stop the others; the exit code is 1 when any failed.
Standard library at the top level, so it runs before any environment exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tasks import ui

from tasks.setup import h100, hf_auth, m4, probes, wandb_auth
from tasks.setup.probes import FAIL, OK, Check

TAG = "DOCTOR"
ROOT = probes.ROOT
CONFIGS = {p: f"configs/training_config_{p}.yaml" for p in ("h100", "m4", "cpu")}
CPU_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "mistral-common")
CPU_MIN_FREE_GB = 5  # the CPU demo: a tiny model and the dataset


def _h100_env() -> list[Check]:
    conda = h100.find_conda()
    if conda is None:
        return [Check("Conda env", FAIL, "conda not found, so no env", "make setup-h100")]
    prefix = h100.env_prefix(conda)
    if prefix is None:
        return [Check("Conda env", FAIL, f"{h100.ENV_NAME} does not exist", "make setup-h100")]
    python = h100.env_python(prefix)
    return [Check("Conda env", OK, str(prefix)), *h100.env_checks(python),
            probes.check_config(python, CONFIGS["h100"])]


def _h100_model() -> list[Check]:
    """The gated base model: on the volume (the completeness marker), and the token's access (one Hub request)."""
    paths = h100.run_paths(CONFIGS["h100"])
    return hf_auth.checks(paths["base"], paths["cache_dir"], network=True)


def h100_checks():
    return [lambda: h100.machine_checks(CONFIGS["h100"]), _h100_env, _h100_model, lambda: [probes.check_data_links()],
            lambda: [wandb_auth.check(verify=False)]]


def _m4_env() -> list[Check]:
    python = m4.venv_python()
    if not Path(python).exists():
        return [Check("Virtual env", FAIL, ".venv-local does not exist", "make setup-m4")]
    return [Check("Virtual env", OK, ".venv-local"), *m4.venv_checks(python), probes.check_config(python, CONFIGS["m4"])]


def m4_checks():
    return [lambda: m4.machine_checks("python3"), _m4_env, lambda: [probes.check_data_links()],
            lambda: [wandb_auth.check(verify=False)]]


def _cpu_env() -> list[Check]:
    venv = ROOT / ".venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    env = probes.probe_env(python, CPU_PACKAGES, "cpu")
    checks = [probes.check_packages(env, probes.read_pins(ROOT / "requirements-ci.txt"), CPU_PACKAGES, python,
                                    "make check rebuilds .venv from requirements-ci.txt")]
    if env.get("error") or not env.get("matmul"):
        checks.append(Check("torch CPU", FAIL, f"torch did not run: {env.get('error')}", "make check rebuilds .venv"))
    else:
        checks.append(Check("torch CPU", OK, f"torch {env['versions']['torch']}: matmul ok"))
    return [*checks, probes.check_config(python, CONFIGS["cpu"])]


def cpu_checks():
    return [lambda: [probes.check_python(sys.executable)], lambda: [probes.check_storage(ROOT, CPU_MIN_FREE_GB)],
            _cpu_env, lambda: [probes.check_data_links()], lambda: [probes.check_tmux()]]


PROFILES = {"h100": h100_checks, "m4": m4_checks, "cpu": cpu_checks}


def run(env: str) -> int:
    ui.info(TAG, f"Profile {env}: every check, changing nothing")
    results = []
    for group in PROFILES[env]():
        try:
            checks = group()
        except Exception as exc:  # one broken probe must not hide the other checks; it is reported as a failure
            checks = [Check(getattr(group, "__name__", "check").strip("_"), FAIL, f"{type(exc).__name__}: {exc}",
                            "rerun with the fix for the checks above; report it if it persists")]
        results += [probes.report(c) for c in checks]
    failed = sum(c.failed for c in results)
    warned = sum(c.status == probes.WARN for c in results)
    summary = f"{len(results)} checks: {len(results) - failed - warned} ok, {warned} warning(s), {failed} failed"
    if failed:
        ui.error(f"[{TAG}] {summary}")
        return ui.EXIT_FAIL
    ui.info(TAG, summary)
    return ui.EXIT_OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(PROFILES), required=True, help="profile to check")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.env)


if __name__ == "__main__":
    raise SystemExit(main())
