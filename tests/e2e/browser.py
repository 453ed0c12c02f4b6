"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, with a WAV
file as its microphone: the built-in page is tested in a real browser."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("VOICECTL_CHROMIUM", "/usr/bin/chromium")
# This machine's network is closed: nothing in the background may try to reach out.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",  # else loopback is left out of ICE
    "--autoplay-policy=no-user-gesture-required",
)
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VOICECTL_TEST_ARTIFACTS", REPO / "test-artifacts"))


@asynccontextmanager
async def chromium(microphone: Path) -> AsyncIterator[Browser]:
    """A headless browser whose microphone plays ``microphone`` (a 16-bit WAV), once."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"],
        )
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """Where the test run keeps what a person may want to look at (screenshots)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
