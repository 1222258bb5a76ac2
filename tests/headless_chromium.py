"""A headless Chromium for the tests that open pages as a reader would, from the npm
registry (the only place besides the package index this machine may download from):
@sparticuz/chromium ships a self-contained headless shell, brotli-compressed, with the NSS
libraries it needs. Playwright drives it.

`python -m tests.headless_chromium DEST` installs it (make test does, once)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "153.0.0"
TARBALL = f"https://registry.npmjs.org/@sparticuz/chromium/-/chromium-{VERSION}.tgz"
# The registry's dist.integrity for that version: what we run is what was published.
INTEGRITY = "sha512-jiGWqSvPMdu4+P9TilYqAR7yEGPEHINx+lCvE/NqNO/EHYzF/x1hUiI5T6ioVIt7dEy7n88byyT0vk+dnsgQwA=="
# The flags @sparticuz/chromium's own launcher passes: one process, software GL, no sandbox
# (the sandbox needs a setuid helper this build does not ship).
ARGS = [
    "--no-sandbox",
    "--no-zygote",
    "--single-process",
    "--in-process-gpu",
    "--use-angle=swiftshader",
    "--disable-gpu-sandbox",
]


def default_dir() -> Path:
    """Beside the interpreter's packages: installed with them, removed with them."""
    return Path(sys.prefix) / "chromium"


def executable(dest: Path | None = None) -> Path:
    return (dest or default_dir()) / "chromium"


def install(dest: Path) -> Path:
    import brotli

    binary = executable(dest)
    if binary.exists() and (dest / "VERSION").read_text() == VERSION:
        return binary
    with urllib.request.urlopen(TARBALL, timeout=300) as response:
        tarball = response.read()
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if f"sha512-{digest}" != INTEGRITY:
        raise RuntimeError(f"{TARBALL} does not match its published integrity hash")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as package:
        for member in package.getmembers():
            name = Path(member.name).name
            if not name.endswith(".br"):
                continue
            data = brotli.decompress(package.extractfile(member).read())
            if name.endswith(".tar.br"):
                with tarfile.open(fileobj=io.BytesIO(data)) as bundle:
                    bundle.extractall(dest, filter="data")
            else:
                binary.write_bytes(data)
                binary.chmod(0o755)
    (dest / "VERSION").write_text(VERSION)
    return binary


def launch(playwright, dest: Path | None = None):
    """A browser on the installed shell, its bundled libraries first on the load path."""
    dest = dest or default_dir()
    library_path = os.pathsep.join(
        [str(dest / "lib"), str(dest), os.environ.get("LD_LIBRARY_PATH", "")]
    )
    return playwright.chromium.launch(
        executable_path=str(executable(dest)),
        args=ARGS,
        env={**os.environ, "LD_LIBRARY_PATH": library_path},
    )


if __name__ == "__main__":
    print(install(Path(sys.argv[1]) if len(sys.argv) > 1 else default_dir()))
