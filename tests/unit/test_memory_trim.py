"""Trimming freed memory after conversations end: at most once per interval, off the loop."""

from __future__ import annotations

import asyncio
import threading

from voicectl.orchestrator.memory_trim import MemoryTrimmer, _libc_trim


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_one_trim_per_interval_and_never_on_the_event_loop() -> None:
    threads: list[str] = []
    clock = FakeClock()
    trimmer = MemoryTrimmer(
        interval_s=30, trim=lambda: threads.append(threading.current_thread().name), clock=clock
    )
    trimmer.session_ended()  # the first conversation's end trims
    await asyncio.sleep(0.05)
    clock.now += 10
    trimmer.session_ended()  # 10 s later: not yet
    clock.now += 25
    trimmer.session_ended()  # 35 s after the first: again
    await asyncio.sleep(0.05)
    assert trimmer.trims == 2
    assert len(threads) == 2
    assert threading.main_thread().name not in threads


async def test_a_trim_still_running_is_not_doubled() -> None:
    release = threading.Event()
    clock = FakeClock()
    trimmer = MemoryTrimmer(interval_s=0, trim=release.wait, clock=clock)
    trimmer.session_ended()
    clock.now += 60
    assert not trimmer.due()  # the first one has not returned
    release.set()
    await asyncio.sleep(0.05)
    assert trimmer.due()


async def test_without_malloc_trim_nothing_runs() -> None:
    trimmer = MemoryTrimmer(trim=None, clock=FakeClock())
    assert not trimmer.due()
    trimmer.session_ended()
    assert trimmer.trims == 0


def test_glibc_s_malloc_trim_is_found_and_runs() -> None:
    trim = _libc_trim()
    assert trim is not None  # glibc here
    assert trim() in (0, 1)  # 1: memory was given back, 0: there was none to give
    assert MemoryTrimmer.for_this_process().due()
