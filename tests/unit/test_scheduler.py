"""Earliest-deadline-first inference: the most urgent stream's job runs first."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from voicectl.worker import scheduler
from voicectl.worker.adapters.base import run_blocking
from voicectl.worker.scheduler import (
    INFERENCE_NICE,
    DeadlineExecutor,
    at_inference_priority,
    inference_deadline,
    shared_executor,
)


def test_saturated_pool_runs_earliest_deadline_first() -> None:
    pool = DeadlineExecutor(1)
    gate, busy = threading.Event(), threading.Event()
    order: list[str] = []

    def block() -> None:
        busy.set()
        gate.wait()

    blocker = pool.submit(block, deadline=0.0)
    assert busy.wait(timeout=5)  # the only worker is now occupied
    futures = [
        pool.submit(lambda name=name: order.append(name), deadline=deadline)  # type: ignore[misc]
        for name, deadline in (("later", 3.0), ("urgent", 1.0), ("soon", 2.0))
    ]
    assert pool.queued == 3
    gate.set()
    blocker.result(timeout=5)
    for future in futures:
        future.result(timeout=5)
    assert order == ["urgent", "soon", "later"]


def test_in_flight_counts_running_and_queued_jobs() -> None:
    pool = DeadlineExecutor(1)
    gate, busy = threading.Event(), threading.Event()
    seen: list[int] = []

    def block() -> None:
        busy.set()
        gate.wait()

    assert pool.in_flight == 0
    first = pool.submit(block, deadline=0.0)
    assert busy.wait(timeout=5)
    second = pool.submit(lambda: seen.append(pool.in_flight), deadline=1.0)
    assert pool.in_flight == 2  # one running, one queued
    gate.set()
    first.result(timeout=5)
    second.result(timeout=5)
    assert seen == [1], "a job running alone sees only itself"
    assert pool.in_flight == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_inference_threads_yield_to_the_event_loop() -> None:
    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_nice = own_nice()
    job_nice = DeadlineExecutor(1).submit(own_nice, deadline=0.0).result(timeout=5)
    assert job_nice == min(19, loop_nice + INFERENCE_NICE)
    assert own_nice() == loop_nice, "only the pool's threads are lowered"

    def start_a_thread() -> int:  # as onnxruntime starts its pool when a session is made
        seen: list[int] = []
        child = threading.Thread(target=lambda: seen.append(own_nice()))
        child.start()
        child.join()
        return seen[0]

    assert at_inference_priority(start_a_thread) == job_nice
    with pytest.raises(ValueError, match="bad model"):
        at_inference_priority(lambda: int("bad model"))


def test_errors_reach_the_caller() -> None:
    pool = DeadlineExecutor(1)

    def boom() -> None:
        raise RuntimeError("model broke")

    with pytest.raises(RuntimeError, match="model broke"):
        pool.submit(boom, deadline=0.0).result(timeout=5)
    assert pool.submit(lambda: 42, deadline=0.0).result(timeout=5) == 42


async def test_run_blocking_uses_the_pool_only_inside_a_stream() -> None:
    def thread_name() -> str:
        return threading.current_thread().name

    assert not (await run_blocking(thread_name)).startswith("voicectl-infer")

    async def in_stream() -> str:
        inference_deadline.set(asyncio.get_running_loop().time())
        return await run_blocking(thread_name)

    assert (await asyncio.create_task(in_stream())).startswith("voicectl-infer")
    assert shared_executor() is shared_executor()


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        DeadlineExecutor(0)


def test_generating_streams_are_counted_and_a_peak_is_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler, "_peak", 0)
    base = scheduler.streams_generating()
    with scheduler.generating(), scheduler.generating():
        assert scheduler.streams_generating() == base + 2
        assert scheduler.competing_streams() >= base + 1  # the other one
    # Both ended, but a worker this busy a moment ago is likely busy again.
    assert scheduler.streams_generating() == base + 2
    monkeypatch.setattr(scheduler, "LOAD_MEMORY_S", -1.0)  # forget at once
    assert scheduler.streams_generating() == base
