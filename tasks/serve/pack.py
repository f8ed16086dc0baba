"""Carry a trained adapter off the pod as one file, and unpack it on the laptop with every file checked.

    python -m tasks.serve.pack pack --adapter adapters/weatherman-lora-h100 [--export exports/weatherman-lora-h100]
    python -m tasks.serve.pack unpack weatherman-lora-h100.weatherman.tar
    make pack ADAPTER=adapters/weatherman-lora-h100        # on the pod
    make unpack FILE=weatherman-lora-h100.weatherman.tar   # on the laptop, in a clone of this repository

`pack` writes exports/<run>.weatherman.tar: the final adapter (its checkpoint-* folders left out: they
hold the optimizer state and only resume training needs them) under adapters/<run>/, the `make export`
folder under exports/<run>/ when there is one, and MANIFEST.json with every file's size and sha256.
`unpack` reads MANIFEST.json first, refuses an archive with a path outside those two folders, extracts
into a staging folder beside each target, checks every size and sha256, and only then renames the
folders into place: a truncated or corrupted copy leaves nothing behind and names the bad file.
Standard library only, so a laptop without the project's env can unpack.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from tasks import ui

TAG = "PACK"
ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "MANIFEST.json"
SUFFIX = ".weatherman.tar"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def members(adapter: Path, export: Path | None) -> list[tuple[Path, str]]:
    """(file on disk, name in the archive) for the final adapter and the export folder."""
    if not (adapter / "adapter_config.json").is_file():
        raise ui.Fail(f"{adapter}: no adapter_config.json (pass ADAPTER=<the run folder with the final adapter>)")
    if not (adapter / "FINAL").is_file():
        raise ui.Fail(f"{adapter}: no FINAL marker, so training has not finished writing this adapter (wait for it, or `make status`)")
    out = []
    for folder, prefix in ((adapter, f"adapters/{adapter.name}"), (export, f"exports/{export.name}" if export else "")):
        if folder is None:
            continue
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not rel.parts[0].startswith("checkpoint-"):
                out.append((path, f"{prefix}/{rel.as_posix()}"))
    return out


def pack(adapter: Path, export: Path | None, out: Path) -> dict:
    files = members(adapter, export)
    manifest = {"adapter": adapter.name, "export": export.name if export else None,
                "files": {name: {"size": path.stat().st_size, "sha256": sha256(path)} for path, name in files}}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", dir=out.parent)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w") as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))  # first, so unpack knows what to expect before any file
            for path, name in files:
                tar.add(path, arcname=name, recursive=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return manifest


def _safe(name: str) -> bool:
    parts = Path(name).parts
    return len(parts) >= 3 and parts[0] in ("adapters", "exports") and ".." not in parts and not Path(name).is_absolute()


def unpack(archive: Path, root: Path = ROOT) -> dict:
    if not archive.is_file():
        raise ui.Fail(f"{archive}: no such file (copy it from the pod first: docs/DEPLOYMENT.md section 2)")
    try:
        tar = tarfile.open(archive, "r")
    except (tarfile.TarError, OSError) as exc:
        raise ui.Fail(f"{archive}: not a readable archive ({exc}); copy it again from the pod") from exc
    with tar:
        try:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ui.Fail(f"{archive}: no {MANIFEST} at its start, so it was not written by `make pack`")
            manifest = json.loads(tar.extractfile(first).read())
            expected = manifest["files"]
        except (tarfile.TarError, ValueError, KeyError, OSError) as exc:
            raise ui.Fail(f"{archive}: its {MANIFEST} cannot be read ({exc}); copy it again from the pod") from exc
        bad = [name for name in expected if not _safe(name)]
        if bad:
            raise ui.Fail(f"{archive}: refuses to write {bad[0]!r} (only adapters/<run>/ and exports/<run>/ are unpacked)")
        tops = sorted({"/".join(Path(name).parts[:2]) for name in expected})
        stages = {}
        try:
            for top in tops:
                (root / top).parent.mkdir(parents=True, exist_ok=True)
                stages[top] = Path(tempfile.mkdtemp(prefix=Path(top).name + ".unpack.", dir=(root / top).parent))
            seen = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in expected or not member.isfile():
                    raise ui.Fail(f"{archive}: {member.name!r} is not listed in its {MANIFEST}; copy it again from the pod")
                top = "/".join(Path(member.name).parts[:2])
                target = stages[top] / Path(*Path(member.name).parts[2:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                want = expected[member.name]
                if target.stat().st_size != want["size"] or sha256(target) != want["sha256"]:
                    raise ui.Fail(f"{archive}: {member.name} does not match its checksum (a damaged copy); copy it again from the pod")
                seen.add(member.name)
            missing = sorted(set(expected) - seen)
            if missing:
                raise ui.Fail(f"{archive}: {len(missing)} listed file(s) missing, first {missing[0]} (a truncated copy); copy it again")
        except (tarfile.TarError, OSError, EOFError) as exc:
            for stage in stages.values():
                shutil.rmtree(stage, ignore_errors=True)
            raise ui.Fail(f"{archive}: reading it failed ({exc}); a truncated copy? copy it again from the pod") from exc
        except ui.Fail:
            for stage in stages.values():
                shutil.rmtree(stage, ignore_errors=True)
            raise
    for top, stage in stages.items():
        final = root / top
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=final.name + ".old.", dir=final.parent))
            os.replace(final, old / final.name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(stage, final)
    return {"folders": tops, "files": len(expected)}


def run_pack(adapter: str, export: str | None, out: str | None) -> None:
    adapter_dir = (ROOT / adapter) if not Path(adapter).is_absolute() else Path(adapter)
    export_dir = Path(export) if export else ROOT / "exports" / adapter_dir.name
    export_dir = export_dir if export_dir.is_absolute() else ROOT / export_dir
    if not export_dir.is_dir():
        if export:
            raise ui.Fail(f"{export_dir}: no such folder (run `make export ADAPTER={adapter}` first, or leave EXPORT out)")
        ui.warning(f"[{TAG}] No export folder {export_dir}: packing the adapter alone (run `make export` first to carry the GGUF too)")
        export_dir = None
    target = Path(out) if out else ROOT / "exports" / f"{adapter_dir.name}{SUFFIX}"
    manifest = pack(adapter_dir, export_dir, target)
    size = target.stat().st_size
    ui.success(f"[{TAG}] {target}: {len(manifest['files'])} files, {size / 1e6:,.1f} MB, each with its sha256 in {MANIFEST}")
    ui.info(TAG, f"On your computer, in a clone of this repository: make unpack FILE=<path to {target.name}>")


def run_unpack(file: str) -> None:
    result = unpack(Path(file))
    ui.success(f"[{TAG}] {result['files']} files checked against their sha256 and unpacked: {', '.join(result['folders'])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack", help="adapter + export into one checked archive")
    p.add_argument("--adapter", required=True)
    p.add_argument("--export", default=None, help="the `make export` folder (default: exports/<run>)")
    p.add_argument("--out", default=None, help=f"archive path (default: exports/<run>{SUFFIX})")
    u = sub.add_parser("unpack", help="check and unpack an archive into adapters/ and exports/")
    u.add_argument("file")
    args = parser.parse_args(argv)
    if args.verb == "pack":
        return ui.main_guard(run_pack, args.adapter, args.export, args.out)
    return ui.main_guard(run_unpack, args.file)


if __name__ == "__main__":
    raise SystemExit(main())
