"""How the portal's browser tests and benchmark start Debian's Chromium: never a downloaded browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# WebGL in headless Chromium without a GPU: ANGLE on SwiftShader (software Vulkan)
WEBGL_FLAGS = [*FLAGS, "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def launch(home: Path, flags: list[str] | None = None) -> Iterator[Any]:
    """Debian's Chromium through Playwright with ``HOME`` in ``home``; yields the browser, closes it after."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/install-system.sh as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=flags or FLAGS, env={**os.environ, "HOME": str(home)}, headless=True
        )
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, url: str, user: str, password: str) -> None:
    """Sign ``user`` in through the portal's login form on ``page``; returns on the task list at ``url``/tasks."""
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_url(f"{url}/tasks")
