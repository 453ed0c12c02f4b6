"""JSON log lines carry the service and the context ids set where the work started."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from voicectl.observability.logging import log_context, set_log_context, setup_logging


@pytest.fixture(autouse=True)
def _restore_console() -> object:
    yield None
    setup_logging("warning")


def test_json_lines_carry_context(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", log_format="json", service="worker")
    log = logging.getLogger("voicectl.test")
    with log_context(session_id="s-1", model_id="mock:sine"):
        log.info("frame %d sent", 7)
    log.warning("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "frame 7 sent"
    assert lines[0]["service"] == "worker"
    assert lines[0]["session_id"] == "s-1"
    assert lines[0]["model_id"] == "mock:sine"
    assert lines[0]["level"] == "info"
    assert lines[1]["session_id"] is None


async def test_context_is_per_task(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", log_format="json")
    log = logging.getLogger("voicectl.test")

    async def session(name: str) -> None:
        set_log_context(session_id=name)
        await asyncio.sleep(0)
        log.info("hello")

    await asyncio.gather(session("a"), session("b"))
    ids = sorted(json.loads(line)["session_id"] for line in capsys.readouterr().err.splitlines())
    assert ids == ["a", "b"]


def test_bad_format_and_level_are_named() -> None:
    with pytest.raises(ValueError, match="log format"):
        setup_logging("info", log_format="xml")
    with pytest.raises(ValueError, match="log level"):
        setup_logging("loud")
