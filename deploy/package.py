"""Build the collector Lambda's deployment zip, byte for byte the same from the same inputs.

    python deploy/package.py [--arch x86_64|arm64] [--out dist] [--wheel-cache DIR]

The zip holds `monitor/`, `lambda_handlers/`, the spec (`alarms.yaml` at the root, where
monitor.collect.collector.BUNDLED_SPEC looks for it) and the pinned runtime dependencies of
deploy/requirements-lambda.txt as wheels for the Lambda platform. boto3/botocore are left out: the
python3.12 runtime has them. Entries are sorted, stamped 1980-01-01 00:00 with mode 0644, and no
bytecode goes in, so two builds of the same tree give the same sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "deploy" / "requirements-lambda.txt"
SPEC_FILE = "alarms.yaml"
SOURCE_PACKAGES = ("monitor", "lambda_handlers")
SOURCE_SUFFIXES = (".py", ".typed")

PYTHON_VERSION = "3.12"  # the function's Runtime (python3.12) in deploy/collector.yaml
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}  # Lambda Architectures -> wheel tags

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o100644  # regular file, rw-r--r-- (Lambda only needs to read; .so files are mmapped, not exec'd)
COMPRESS_LEVEL = 9
# Lambda: 50 MB for a zip uploaded directly, 250 MB unzipped (also the limit when deployed from S3).
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

EXCLUDED_DIRS = {"__pycache__"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def zip_name(arch: str) -> str:
    return f"queue-metrics-lambda-{arch}.zip"


def _pip(*args: str, check: bool = True) -> bool:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 and check:
        sys.stderr.write(result.stdout)
        raise SystemExit(f"package: pip {args[0]} failed; see its output above")
    return result.returncode == 0


def install_dependencies(target: Path, arch: str, wheel_cache: Path | None) -> None:
    """pip install the pinned wheels for the Lambda platform into target (no bytecode, no scripts)."""
    platform_args = [
        "--platform", PLATFORMS[arch],
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    if wheel_cache is not None:
        # Fill the cache only with what is missing; the install below then never touches the network.
        wheel_cache.mkdir(parents=True, exist_ok=True)
        cached = _pip("install", "--quiet", "--dry-run", "--no-index", "--find-links", str(wheel_cache), "--target", str(target), *platform_args, check=False)
        if not cached:
            _pip("download", "--quiet", "--dest", str(wheel_cache), *platform_args)
        source = ["--no-index", "--find-links", str(wheel_cache)]
    else:
        source = ["--no-cache-dir"]
    _pip("install", "--quiet", "--no-compile", "--target", str(target), *source, *platform_args)


def _skipped(path: Path) -> bool:
    return any(part in EXCLUDED_DIRS for part in path.parts) or path.name.endswith(EXCLUDED_SUFFIXES)


def collect_files(deps: Path) -> dict[str, Path]:
    """Archive name -> file on disk, for everything that goes into the zip."""
    files: dict[str, Path] = {}
    for package in SOURCE_PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.name.endswith(SOURCE_SUFFIXES) and not _skipped(path.relative_to(ROOT)):
                files[path.relative_to(ROOT).as_posix()] = path
    files[SPEC_FILE] = ROOT / SPEC_FILE
    for path in deps.rglob("*"):
        relative = path.relative_to(deps)
        if path.is_file() and not _skipped(relative):
            name = relative.as_posix()
            if name in files:
                raise SystemExit(f"package: dependency file {name} would overwrite the project's own")
            files[name] = path
    return files


def write_zip(files: dict[str, Path], destination: Path) -> int:
    """Write the zip deterministically; returns the unzipped size in bytes."""
    unzipped = 0
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(files):
            data = files[name].read_bytes()
            unzipped += len(data)
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    os.replace(partial, destination)
    return unzipped


def build(arch: str, out_dir: Path, wheel_cache: Path | None = None) -> Path:
    """Build dist/queue-metrics-lambda-<arch>.zip and return its path."""
    if arch not in PLATFORMS:
        raise SystemExit(f"package: unknown architecture {arch!r}; use one of: {', '.join(PLATFORMS)}")
    with tempfile.TemporaryDirectory(prefix="queue-metrics-package-") as scratch:
        deps = Path(scratch) / "deps"
        install_dependencies(deps, arch, wheel_cache)
        files = collect_files(deps)
        destination = out_dir / zip_name(arch)
        unzipped = write_zip(files, destination)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise SystemExit(f"package: {unzipped} bytes unzipped; Lambda allows at most {MAX_UNZIPPED_BYTES}")
    return destination


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64", help="Lambda architecture (default x86_64)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default dist/)")
    parser.add_argument("--wheel-cache", type=Path, help="keep downloaded wheels here and install from it")
    args = parser.parse_args(argv)
    path = build(args.arch, args.out, args.wheel_cache)
    size = path.stat().st_size
    print(f"{path}: {size} bytes ({size / 1024 / 1024:.2f} MiB), sha256 {sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
