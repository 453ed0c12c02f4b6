"""Earliest-deadline-first scheduling of blocking inference across streams.

Every stream needs its next chunk of audio by a deadline: the moment its client
will have played everything generated so far (stream start + audio generated).
When more streams want inference than there are cores, running the most urgent
job first is what keeps streams from running dry; a FIFO thread pool instead
makes a stream that is about to underrun wait behind streams with seconds of
audio in hand. Sessions set the deadline in a context variable before each
step of the adapter; ``run_blocking`` hands the job to this executor.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

INFERENCE_NICE = 5  # added to the inference threads' nice value (Linux: per thread)

inference_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "inference_deadline", default=None
)


class DeadlineExecutor:
    """A fixed pool of threads that always runs the queued job with the earliest deadline."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._queue: list[tuple[float, int, Callable[[], Any], Future[Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._running = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"voicectl-infer-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, func: Callable[[], T], deadline: float) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            heapq.heappush(self._queue, (deadline, next(self._order), func, future))
            self._ready.notify()
        return future

    @property
    def queued(self) -> int:
        with self._ready:
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Jobs running or waiting: 1 inside a job means that job has the pool to itself."""
        with self._ready:
            return self._running + len(self._queue)

    def _work(self) -> None:
        _lower_thread_priority()
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                _, _, func, future = heapq.heappop(self._queue)
                self._running += 1
            started = future.set_running_or_notify_cancel()
            result: Any = None
            error: BaseException | None = None
            if started:
                try:
                    result = func()
                except BaseException as exc:  # handed to the awaiting coroutine
                    error = exc
            with self._ready:  # before the caller wakes: it may submit its next job at once
                self._running -= 1
            if not started:
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


def _lower_thread_priority() -> None:
    """Yield the cores to event loops first: a frame late on the wire is an underrun now,
    an inference a few ms later is not (the stream has audio in hand, EDF keeps it so)."""
    if not sys.platform.startswith("linux"):  # elsewhere the id would name a process
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # not permitted: run at the process's priority
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + INFERENCE_NICE))


def at_inference_priority(func: Callable[[], T]) -> T:
    """``func()`` on a new thread at the inference threads' priority. Threads that ``func``
    starts inherit it: create onnxruntime sessions here and their pools yield as well."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        _lower_thread_priority()
        try:
            result.append(func())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=run, name="voicectl-infer-init")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


_executor: DeadlineExecutor | None = None
_lock = threading.Lock()
_generating = 0
LOAD_MEMORY_S = 2.0  # how long a peak of generating streams is remembered
_peak = 0
_peak_at = 0.0


@contextlib.contextmanager
def generating() -> Iterator[None]:
    """Count this stream as generating (between its first and last inference job)."""
    global _generating, _peak, _peak_at
    with _lock:
        _generating += 1
        now = time.monotonic()
        if _generating >= _peak or now - _peak_at > LOAD_MEMORY_S:
            _peak, _peak_at = _generating, now
    try:
        yield
    finally:
        with _lock:
            _generating -= 1


def streams_generating() -> int:
    """Streams in this process between their first and last inference job, or the most of
    them in the last LOAD_MEMORY_S: a worker busy a moment ago is likely busy again (a
    stream that starts in a lull would otherwise plan for an idle pool)."""
    with _lock:
        recent = _peak if time.monotonic() - _peak_at <= LOAD_MEMORY_S else 0
        return max(_generating, recent)


def competing_streams() -> int:
    """Other streams whose jobs may run before a stream's next one: the other generating
    streams (one job in flight each at most), or the other jobs in flight, if more.
    Call it from inside a job (the caller's own job counts as in flight)."""
    return max(streams_generating() - 1, inferences_in_flight() - 1, 0)


def inferences_in_flight() -> int:
    """Stream inference jobs running or queued in this process (0 before any stream)."""
    with _lock:
        executor = _executor
    return 0 if executor is None else executor.in_flight


def shared_executor() -> DeadlineExecutor:
    """The process-wide inference pool: one thread per core."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = DeadlineExecutor(os.cpu_count() or 2)
        return _executor
