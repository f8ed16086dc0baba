"""Hugging Face access to the gated base model: the token, the licence, the download to the persistent volume.

    python -m tasks.setup.hf_auth --config configs/training_config_h100.yaml              # token, access (one request), model on disk
    python -m tasks.setup.hf_auth --config configs/training_config_h100.yaml --download   # and download what is missing
    python -m tasks.setup.hf_auth --config configs/training_config_h100.yaml --offline    # token and model on disk only

`mistralai/Mistral-7B-Instruct-v0.2` is gated: its licence must be accepted on the model page
with a Hugging Face account, and every download needs that account's token. The token comes
from HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else from the token file `hf auth login`
writes (HF_TOKEN_PATH, else $HF_HOME/token, HF_HOME defaulting to ~/.cache/huggingface, which a
pod restart wipes), else from the copy setup keeps on the persistent volume
(/workspace/.cache/huggingface/token, mode 600). The token is only ever sent to the Hub, never
printed. Access is checked with one GET of the Hub's auth-check endpoint (the one
`huggingface_hub.auth_check` calls), classified by status and the Hub's X-Error-Code header as
`huggingface_hub.utils.hf_raise_for_status` does; standard library only, so the system python3
can fail a pod in seconds before any environment is built.

The download (`--download`, the env's python: it needs huggingface_hub) fetches the safetensors
weights, config and tokenizer files into model.cache_dir (on /workspace), resumes an interrupted
download, shows huggingface_hub's progress bars, and writes a completeness marker with every
file's size only after all files are there. Training loads the model with local_files_only when
the marker holds, so it never starts on a half download, never needs the token again, and a
restarted pod does not download 14.5 GB twice.
"""

from __future__ import annotations

import argparse
import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

from tasks import ui

from tasks.setup import probes
from tasks.setup.probes import FAIL, OK, WARN, Check
from tasks.train.model_cache import ALLOW_PATTERNS, MODEL_GB, is_local, marker_path, model_state, write_marker

TAG = "HF"
DEFAULT_ENDPOINT = "https://huggingface.co"
# ALLOW_PATTERNS (only what training and the tokenizer read) and MODEL_GB live in tasks.train.model_cache, shared with MLX.


def endpoint() -> str:
    """The Hub, or the mirror HF_ENDPOINT names (huggingface_hub honours the same variable; tests serve recordings there)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def workspace() -> Path:
    """The pod's persistent volume (/workspace); WEATHERMAN_WORKSPACE points tests at a fake one."""
    return Path(os.environ.get("WEATHERMAN_WORKSPACE") or "/workspace")


def hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(os.environ.get("HF_HOME") or default).expanduser()


def persistent_token_path() -> Path:
    return workspace() / ".cache" / "huggingface" / "token"


def model_page(repo: str) -> str:
    return f"{DEFAULT_ENDPOINT}/{repo}"


def login_fix(repo: str) -> str:
    return (f"accept the licence at {model_page(repo)} (logged in), create a read token at {DEFAULT_ENDPOINT}/settings/tokens, "
            "then `hf auth login` in the env (conda activate weatherman-lora) or export HF_TOKEN=<token>; rerun")


# ----------------------------------------------------------------- the token


def token_source() -> tuple[str | None, str | None]:
    """(where the token comes from, the token); the token is only sent to the Hub or written to the volume."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return var, value
    files = [Path(os.environ["HF_TOKEN_PATH"])] if os.environ.get("HF_TOKEN_PATH") else []
    files += [hf_home() / "token", persistent_token_path()]
    for path in files:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return str(path), value
    return None, None


def keep_token(token: str | None, source: str | None) -> str | None:
    """Copy a token that a restart would lose onto the persistent volume (mode 600); the path, or None."""
    dest = persistent_token_path()
    if not token or source == str(dest) or not workspace().is_dir():
        return None
    try:
        if dest.is_file() and dest.read_text(encoding="utf-8").strip() == token:
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(token + "\n", encoding="utf-8")
        tmp.chmod(stat.S_IRUSR | stat.S_IWUSR)
        tmp.replace(dest)
    except OSError:
        return None
    return str(dest)


# ----------------------------------------------------------------- access


def fetch_auth_check(repo: str, token: str | None, timeout: float = 15) -> tuple[int, dict, str]:
    """GET <endpoint>/api/models/<repo>/auth-check: (status, headers, body); status 0 when the Hub is unreachable."""
    req = urllib.request.Request(f"{endpoint()}/api/models/{repo}/auth-check")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers or {}), exc.read(2000).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, {}, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def classify(repo: str, status: int, headers: dict, body: str, source: str | None, token: str | None) -> Check:
    """The auth-check answer as a check, with the fix; the token never appears in it."""
    code = next((v for k, v in headers.items() if k.lower() == "x-error-code"), "")
    said = probes.first_line(body).replace(token, "***") if token else probes.first_line(body)
    who = f"token from {source}" if source else "no token"
    if status == 200:
        return Check("HF access", OK, f"{repo}: licence accepted, {who} (not shown)")
    if status == 0:
        return Check("HF access", FAIL, f"the Hugging Face Hub is unreachable ({said})",
                     f"check the pod's internet access (curl -I {endpoint()}), then rerun")
    if code == "GatedRepo":
        if not token:
            return Check("HF access", FAIL, f"{repo} is gated and no Hugging Face token is set (HF_TOKEN, or `hf auth login`)",
                         login_fix(repo))
        return Check("HF access", FAIL, f"{repo} is gated and the account of the {who} has not accepted its licence (HTTP {status})",
                     f"open {model_page(repo)} logged in as that account, accept the licence, then rerun")
    if status == 401 and token and code != "RepoNotFound":
        return Check("HF access", FAIL, f"the Hub rejected the {who}: invalid, expired or revoked (HTTP 401)",
                     f"create a read token at {DEFAULT_ENDPOINT}/settings/tokens, then `hf auth login` or export HF_TOKEN=<token>")
    if code == "RepoNotFound" or status in (401, 404):
        if not token:
            return Check("HF access", FAIL, f"{repo} is not visible without a token (HTTP {status})", login_fix(repo))
        return Check("HF access", FAIL, f"{repo}: not found for the {who} (HTTP {status}); check model.base in the config",
                     f"check the repo id at {model_page(repo)}; a fine-grained token needs read access to public gated repos")
    return Check("HF access", FAIL, f"{repo}: the Hub answered HTTP {status} ({said or code or 'no message'})",
                 "retry in a minute (https://status.huggingface.co)")


def check_access(repo: str, fetch=fetch_auth_check) -> Check:
    source, token = token_source()
    status, headers, body = fetch(repo, token)
    return classify(repo, status, headers, body, source, token)


# ----------------------------------------------------------------- the model on disk


def check_model(base: str, cache_dir: str | None) -> Check:
    complete, found = model_state(base, cache_dir)
    if complete:
        return Check("Base model", OK, found)
    return Check("Base model", FAIL, found,
                 f"make setup-h100 downloads it ({MODEL_GB} GB to model.cache_dir; rm .stamps/setup-h100.stamp first if setup already finished)")


def download(base: str, cache_dir: str, snapshot_download=None) -> Path:
    """Download the weights and tokenizer into cache_dir (resuming), then write the marker; nothing when complete."""
    complete, found = model_state(base, cache_dir)
    if complete:
        ui.success(f"Base model already on the volume: {found}")
        return marker_path(Path(cache_dir), base)
    if is_local(base):
        raise ui.Fail(f"model.base {base}: {found} (point it at a folder with the weights, or at a Hub id)")
    if snapshot_download is None:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:
            raise ui.Fail("huggingface_hub is not installed in this python (run this in the env: make setup-h100)") from exc
    source, token = token_source()
    ui.info(TAG, f"Downloading {base} (weights, config, tokenizer: about {MODEL_GB} GB) to {cache_dir}; "
                 "progress bars below, typically 3-15 minutes; an interrupted download resumes on the next run")
    try:
        snapshot = Path(snapshot_download(base, cache_dir=cache_dir, token=token or False, allow_patterns=ALLOW_PATTERNS))
    except Exception as exc:  # any Hub or disk error: one line with the fix, never the token
        said = str(exc).replace(token, "***") if token else str(exc)
        raise ui.Fail(f"download of {base} failed ({type(exc).__name__}: {probes.first_line(said)}) "
                      f"(check `python -m tasks.setup.hf_auth` and the free space; rerun make setup-h100, it resumes)") from exc
    marker = write_marker(Path(cache_dir), base, snapshot)
    ui.success(f"Base model downloaded: {model_state(base, cache_dir)[1]}")
    return marker


def checks(base: str, cache_dir: str | None, network: bool = True, fetch=fetch_auth_check) -> list[Check]:
    """Token, access and the model on disk. Access is needed only while the model is not complete on the volume."""
    complete, _ = model_state(base, cache_dir)
    out = [check_model(base, cache_dir)]
    if is_local(base):
        return out
    source, token = token_source()
    if not network:
        if source:
            out.append(Check("HF token", OK, f"from {source} (not shown, not verified)"))
        elif complete:
            out.append(Check("HF token", OK, "none set; not needed: the model is complete on the volume and training loads it offline"))
        else:
            out.append(Check("HF token", FAIL, "no Hugging Face token (HF_TOKEN, or the file `hf auth login` writes)", login_fix(base)))
        return out
    access = check_access(base, fetch)
    if complete and access.failed:
        # The weights are already here: training loads them with local_files_only; only a re-download needs access.
        access = Check("HF access", WARN, access.value + "; not needed now: the model is complete on the volume", access.fix)
    return [*out, access]


# ----------------------------------------------------------------- verb


def run(config: str, download_model: bool = False, network: bool = True) -> None:
    from tasks.config import load_config

    model = load_config(config)["model"]
    base, cache_dir = model["base"], model.get("cache_dir")
    found = checks(base, cache_dir, network)
    if download_model:
        found = [c for c in found if c.name != "Base model"]  # missing is what --download is for
    probes.report_all(found, "Hugging Face")
    if download_model:
        source, token = token_source()
        kept = keep_token(token, source)
        if kept:
            ui.info(TAG, f"Token from {source} copied to {kept} (mode 600) so a pod restart keeps it; delete that file to forget it")
        download(base, cache_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_h100.yaml")
    parser.add_argument("--download", action="store_true", help="download what is missing to model.cache_dir (needs huggingface_hub)")
    parser.add_argument("--offline", action="store_true", help="no request to the Hub: the token and the files on disk only")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.download, not args.offline)


if __name__ == "__main__":
    raise SystemExit(main())
