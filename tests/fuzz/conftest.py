"""The fuzz suite's driver of the event loop.

Each fuzz test starts real servers from the shared fixtures (tests/conftest.py), then
calls a hypothesis-decorated function defined inside it (budget.fuzz): examples run one
by one on the test session's event loop, each bounded by ``HANG_S`` ("never hangs"), and
the test checks its canary and the servers' counters before and after the whole run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from tests.fuzz.budget import HANG_S

T = TypeVar("T")


@pytest.fixture
async def drive() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run one coroutine to completion on the session loop (where the servers live).

    The test itself is synchronous, so hypothesis can call its examples; the loop runs
    only while an example does, which is when the servers need it.
    """
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, HANG_S))
        except TimeoutError:
            raise AssertionError(f"not finished within {HANG_S:g} s: a server hung") from None

    return run
