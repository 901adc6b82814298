"""Render an HTML report in headless Chromium and save a screenshot (a check that it renders).

Usage::

    python scripts/screenshot_report.py manifold-report/report.html docs/figures/report.png

Chromium runs with a fresh profile folder, no network services and no GPU. The script exits
with 1 when Chromium is missing or writes no image. :func:`screenshot` is used by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    for path in CHROMIUM_CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(
    html: str | Path,
    png: str | Path,
    width: int = 1200,
    height: int = 2000,
    chromium: str | None = None,
    timeout: float = 120,
) -> Path:
    """Open ``html`` in headless Chromium and write a ``width`` × ``height`` screenshot.

    Args:
        html: The HTML file.
        png: Where to write the PNG.
        width: Window width in pixels.
        height: Window height in pixels.
        chromium: Chromium executable (default: :func:`find_chromium`).
        timeout: Seconds before Chromium is stopped.

    Returns:
        The PNG path.

    Raises:
        FileNotFoundError: no Chromium, or no HTML file.
        RuntimeError: Chromium wrote no screenshot.
    """
    html, png = Path(html).resolve(), Path(png).resolve()
    if not html.is_file():
        raise FileNotFoundError(f"no HTML file at {html}")
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("Chromium not found; install it (apt-get install -y chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    with tempfile.TemporaryDirectory(prefix="manifold-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.as_uri(),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(
            f"Chromium exited with {result.returncode} and wrote no screenshot: "
            f"{result.stderr.strip()[-500:]}"
        )
    return png


def main(argv: list[str] | None = None) -> int:
    """Command line: ``screenshot_report.py REPORT.html OUT.png [--width W --height H]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html")
    parser.add_argument("png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args(argv)
    try:
        out = screenshot(args.html, args.png, args.width, args.height)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"screenshot_report: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
