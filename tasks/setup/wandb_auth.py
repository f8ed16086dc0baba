"""Weights & Biases login check that never prints the key; offline mode when there is none.

    python -m tasks.setup.wandb_auth            # where the key comes from, verified with `wandb login --verify`
    python -m tasks.setup.wandb_auth --no-verify   # only whether a key is configured (nothing sent, nothing stored)

A key comes from WANDB_API_KEY or from a stored login (~/.netrc, or the file
NETRC names, machine api.wandb.ai). On a pod, setup keeps a copy of a verified
~/.netrc on /workspace and puts it back after a restart wiped the container disk. It is verified with `wandb login --verify`
(never `wandb status`, which prints the key); whatever wandb prints is shown
with the key masked. Without a key, or when verification fails, training still
runs: it logs offline to `<run>/wandb/offline-run-*` for a later `wandb sync`.
W&B problems are warnings, never failures. Standard library only.
"""

from __future__ import annotations

import argparse
import netrc
import os
import subprocess
import sys
from pathlib import Path

from tasks import ui

from tasks.setup import probes

HOST = "api.wandb.ai"
TAG = "SETUP"


def stored_key() -> str | None:
    """The key of a stored login (~/.netrc or $NETRC), or None."""
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(HOST)
    except (netrc.NetrcParseError, OSError):
        return None  # an unreadable netrc is the same as no stored login; the check says so
    return entry[2] if entry and entry[2] else None


def _netrc_has_key(path: Path) -> bool:
    try:
        entry = netrc.netrc(str(path)).authenticators(HOST)
    except (netrc.NetrcParseError, OSError):
        return False
    return bool(entry and entry[2])


def persist_netrc(volume: Path) -> str | None:
    """Copy ~/.netrc (holding a W&B login) to <volume>/.netrc, mode 600, so a pod restart can restore it; the path or None."""
    home = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    dest = Path(volume) / ".netrc"
    if not Path(volume).is_dir() or not _netrc_has_key(home) or home.resolve() == dest.resolve():
        return None
    if dest.is_file() and dest.read_bytes() == home.read_bytes():
        return None
    tmp = dest.with_name(".netrc.tmp")
    tmp.write_bytes(home.read_bytes())
    tmp.chmod(0o600)
    tmp.replace(dest)
    return str(dest)


def restore_netrc(volume: Path) -> str | None:
    """After a restart wiped ~/.netrc: put back the copy kept on the volume (mode 600); the source path or None."""
    home = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    kept = Path(volume) / ".netrc"
    if os.environ.get("WANDB_API_KEY") or home.exists() or not _netrc_has_key(kept):
        return None
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = home.with_name(".netrc.tmp")
    tmp.write_bytes(kept.read_bytes())
    tmp.chmod(0o600)
    tmp.replace(home)
    return str(kept)


def key_source() -> tuple[str | None, str | None]:
    """(where the key comes from, the key). The key is only ever used to mask output."""
    key = os.environ.get("WANDB_API_KEY", "").strip()
    if key:
        return "WANDB_API_KEY", key
    key = stored_key()
    if key:
        return os.environ.get("NETRC") or "~/.netrc", key
    return None, None


def mask(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


def wandb_command() -> str | None:
    """The environment's wandb CLI: beside the running python first, else PATH."""
    beside = Path(sys.executable).parent / "wandb"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return probes.which("wandb")


def offline_help() -> list[str]:
    return [
        "Log in: wandb login   (key at https://wandb.ai/authorize), or export WANDB_API_KEY=<key> before training",
        "Or train offline: runs log to <run>/wandb/offline-run-* (WANDB_MODE=offline forces it); upload later with `wandb sync <dir>`",
    ]


def check(verify: bool = True, timeout: float = 60, cli: str | None = None) -> probes.Check:
    """The W&B login as a check: ok when verified (or configured, without verify), else a warning."""
    mode = os.environ.get("WANDB_MODE", "")
    if mode in ("offline", "disabled"):
        return probes.Check("W&B", probes.WARN, f"WANDB_MODE={mode}: runs are {'logged offline' if mode == 'offline' else 'not logged'}",
                            "unset WANDB_MODE to log online" + ("; upload with `wandb sync <run>/wandb/offline-run-*`" if mode == "offline" else ""))
    source, key = key_source()
    if source is None:
        return probes.Check("W&B", probes.WARN, "no key in WANDB_API_KEY or ~/.netrc: training will log offline",
                            "wandb login, or export WANDB_API_KEY=<key> (https://wandb.ai/authorize)")
    if not verify:
        return probes.Check("W&B", probes.OK, f"key configured in {source} (not shown, not verified)")
    cli = cli or wandb_command()
    if cli is None:
        return probes.Check("W&B", probes.WARN, f"key configured in {source}, but the wandb CLI is not installed",
                            "install the environment first (wandb is pinned in it)")
    try:
        proc = subprocess.run([cli, "login", "--verify"], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return probes.Check("W&B", probes.WARN, f"key in {source}, but `wandb login --verify` did not answer within {timeout:.0f} s",
                            "check the network; training logs offline meanwhile")
    said = mask(probes.last_lines(proc.stdout + "\n" + proc.stderr, 2), key)
    if proc.returncode != 0:
        return probes.Check("W&B", probes.WARN, f"key in {source} was not verified: {said or f'exit {proc.returncode}'}",
                            "wandb login --relogin with a valid key (https://wandb.ai/authorize); training logs offline meanwhile")
    return probes.Check("W&B", probes.OK, f"Weights & Biases authenticated (key from {source}, not shown)")


def run(verify: bool = True, tag: str = TAG, cli: str | None = None) -> probes.Check:
    result = probes.report(check(verify, cli=cli))
    if result.status != probes.OK:
        for line in offline_help():
            ui.info(tag, line)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-verify", action="store_true", help="only say whether a key is configured")
    args = parser.parse_args(argv)
    # A missing or unverified login is a warning: training runs offline without it.
    return ui.main_guard(lambda: run(verify=not args.no_verify).failed)


if __name__ == "__main__":
    raise SystemExit(main())
