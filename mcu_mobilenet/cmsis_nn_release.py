# SPDX-License-Identifier: Apache-2.0
"""Getting CMSIS-NN: the pinned release, where it is, and a check that it is that release.

The cmsis-nn backend compiles CMSIS-NN's own sources into the firmware, so it needs a copy of
them: `CMSIS_NN_PATH=<checkout>` names one, otherwise `make cmsis-nn` downloads the pinned
release into third_party/ (git-ignored). Either way the tree must be exactly the pinned
release: its content hash is a SHA-256 over the sorted list of (path, bytes) of every .c and .h
file under Include/ and Source/, which does not depend on how GitHub packs the tarball.

    python -m mcu_mobilenet.cmsis_nn_release fetch     # what `make cmsis-nn` runs
    python -m mcu_mobilenet.cmsis_nn_release check     # where it is, and whether it verifies
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from mcu_mobilenet.errors import UserError
from mcu_mobilenet.paths import PROJECT_ROOT

VERSION = "v7.0.0"
DOWNLOAD_URL = f"https://github.com/ARM-software/CMSIS-NN/archive/refs/tags/{VERSION}.tar.gz"
# Content hash (see the module docstring) of the v7.0.0 tag: 119 files, 1,319,265 bytes.
CONTENT_SHA256 = "fef50a57581415389cce236ca9f4491c63eea119ab48d3ce1686da011fd530ed"
THIRD_PARTY_DIR = PROJECT_ROOT / "third_party" / f"CMSIS-NN-{VERSION}"
ENVIRONMENT_VARIABLE = "CMSIS_NN_PATH"
HASHED_FOLDERS = ("Include", "Source")
HASHED_SUFFIXES = (".c", ".h")
HOW_TO_GET = (
    f"run `make cmsis-nn` (downloads CMSIS-NN {VERSION} into third_party/) or set "
    f"{ENVIRONMENT_VARIABLE} to a CMSIS-NN {VERSION} checkout"
)
DOWNLOAD_TIMEOUT_SECONDS = 60


def locate() -> Path | None:
    """The CMSIS-NN tree to use: $CMSIS_NN_PATH if set, else third_party/'s, else None."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return THIRD_PARTY_DIR if THIRD_PARTY_DIR.is_dir() else None


def require() -> Path:
    """The verified CMSIS-NN tree, or a one-line UserError saying how to get one."""
    root = locate()
    if root is None:
        raise UserError(f"the cmsis-nn backend needs CMSIS-NN {VERSION}: {HOW_TO_GET}")
    verify(root)
    return root


def content_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in _hashed_files(root):
        data = path.read_bytes()
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def verify(root: Path) -> None:
    """Raises a one-line UserError unless `root` holds exactly the pinned release's sources."""
    where = f"{ENVIRONMENT_VARIABLE}={root}" if _from_environment(root) else str(root)
    if not (root / "Include" / "arm_nnfunctions.h").is_file():
        raise UserError(
            f"{where} is not a CMSIS-NN checkout (no Include/arm_nnfunctions.h); {HOW_TO_GET}"
        )
    found = content_hash(root)
    if found != CONTENT_SHA256:
        raise UserError(
            f"{where} is not CMSIS-NN {VERSION}: its sources differ from the release's "
            f"(content hash {found[:12]}..., expected {CONTENT_SHA256[:12]}...); {HOW_TO_GET}"
        )


def fetch(destination: Path = THIRD_PARTY_DIR, url: str = DOWNLOAD_URL) -> Path:
    """Downloads the pinned release into `destination`, checks it, and renames it into place.

    Nothing is left behind on failure; an existing, verified copy is kept as it is."""
    if destination.exists():
        verify(destination)
        print(f"CMSIS-NN {VERSION} is already in {destination}", file=sys.stderr)
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".cmsis-nn-") as tmp:
        archive = Path(tmp) / "cmsis-nn.tar.gz"
        print(f"downloading CMSIS-NN {VERSION} from {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                with archive.open("wb") as stream:
                    shutil.copyfileobj(response, stream)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UserError(
                f"could not download {url} ({reason}); when offline, set "
                f"{ENVIRONMENT_VARIABLE} to an existing CMSIS-NN {VERSION} checkout"
            ) from None
        extracted = Path(tmp) / "extracted"
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(extracted, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UserError(f"{url} is not a readable .tar.gz ({error})") from None
        folders = [path for path in extracted.iterdir() if path.is_dir()]
        if len(folders) != 1:
            raise UserError(f"{url} does not hold one top-level folder; is it a CMSIS-NN release?")
        verify(folders[0])
        folders[0].rename(destination)
    print(f"CMSIS-NN {VERSION} verified and installed in {destination}", file=sys.stderr)
    return destination


def _hashed_files(root: Path) -> list[Path]:
    return sorted(
        path
        for folder in HASHED_FOLDERS
        for path in (root / folder).rglob("*")
        if path.is_file() and path.suffix in HASHED_SUFFIXES
    )


def _from_environment(root: Path) -> bool:
    configured = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return bool(configured) and Path(configured).expanduser().resolve() == root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcu_mobilenet.cmsis_nn_release",
        description=f"Get and check CMSIS-NN {VERSION} for the cmsis-nn backend.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download, verify and install the release")
    fetch_parser.add_argument("--url", default=DOWNLOAD_URL, help="release tarball URL")
    fetch_parser.add_argument(
        "--into", type=Path, default=THIRD_PARTY_DIR, help=f"folder (default {THIRD_PARTY_DIR})"
    )
    commands.add_parser("check", help="print where CMSIS-NN is and verify it")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch" and os.environ.get(ENVIRONMENT_VARIABLE, "").strip():
            root = require()
            print(f"{ENVIRONMENT_VARIABLE}={root} is CMSIS-NN {VERSION}: nothing to download")
        elif args.command == "fetch":
            fetch(args.into.resolve(), args.url)
        else:
            print(f"CMSIS-NN {VERSION} verified at {require()}")
    except UserError as error:
        print(f"cmsis-nn: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
