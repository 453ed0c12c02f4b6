"""One worker process per GPU, supervised: restart a crashed child with backoff.

``voicectl worker --gpu 0,1`` resolves its configuration once, writes it to a
private file and starts one ``voicectl worker --gpu i --port base+i`` child per
index with ``CUDA_VISIBLE_DEVICES=i``; each child registers itself. A child that
exits unexpectedly is restarted after ``backoff_delay`` (0.5 s doubling to 30 s,
reset once a child ran for ``stable_after`` seconds); a child that exits with the
usage code (bad configuration) stops the whole group, since a restart cannot fix
it. SIGINT/SIGTERM stop every child (SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from voicectl.worker.config import WorkerConfig, config_to_mapping

log = logging.getLogger(__name__)

USAGE_EXIT = 2
PR_SET_PDEATHSIG = 1


def backoff_delay(failures: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Delay before restart number ``failures`` (1, 2, ...): base, 2 x base, ... up to cap."""
    return min(cap, base * float(2 ** max(0, failures - 1)))


@dataclass(frozen=True, kw_only=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def child_specs(
    config: WorkerConfig, config_file: Path, *, log_level: str = "info"
) -> list[ChildSpec]:
    """One child per GPU index: port base+i (0 stays 0: each child picks a free port)."""
    specs = []
    for i, gpu in enumerate(config.gpus):
        port = config.port + i if config.port else 0
        argv: tuple[str, ...] = (
            sys.executable, "-m", "voicectl", "worker", "--config", str(config_file),
            "--gpu", str(gpu), "--port", str(port), "--log-level", log_level,
        )  # fmt: skip
        if config.metrics_port is not None:
            metrics = config.metrics_port + i if config.metrics_port else 0
            argv += ("--metrics-port", str(metrics))
        specs.append(ChildSpec(name=f"gpu{gpu}", argv=argv, env={"CUDA_VISIBLE_DEVICES": str(gpu)}))
    return specs


def write_child_config(config: WorkerConfig, directory: Path) -> Path:
    """The resolved config as YAML (JSON is YAML), so every child runs the same settings.
    Readable by this user only: it may hold the worker's tokens."""
    path = directory / "worker.yaml"
    mapping = config_to_mapping(replace(config, gpus=()))
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps({"worker": mapping}, indent=2))
    return path


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with suppress(Exception):  # no logging between fork and exec; SIGTERM still stops it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Keeps one process per ChildSpec alive until ``stop`` is set."""

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        stop_timeout: float = 10.0,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        stable_after: float = 30.0,
    ) -> None:
        self.children = list(children)
        self.stop_timeout = stop_timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.stop = asyncio.Event()
        self.exit_code = 0
        self.pids: dict[str, int] = {}
        self.restarts: dict[str, int] = {c.name: 0 for c in self.children}

    async def run(self) -> int:
        """Run until ``stop`` is set (or a child reports a configuration error)."""
        await asyncio.gather(*(self._keep(child) for child in self.children))
        return self.exit_code

    async def _keep(self, child: ChildSpec) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self.stop.is_set():
            proc = await asyncio.create_subprocess_exec(
                *child.argv,
                env={**os.environ, **child.env},
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            self.pids[child.name] = proc.pid
            log.info("started %s: pid %d, %s", child.name, proc.pid,
                     " ".join(f"{k}={v}" for k, v in child.env.items()))  # fmt: skip
            started = loop.time()
            code = await self._wait_or_stop(proc)
            if self.stop.is_set():
                return
            if code == USAGE_EXIT:
                log.error("%s exited with a configuration error: stopping all workers", child.name)
                self.exit_code = USAGE_EXIT
                self.stop.set()
                return
            failures = 1 if loop.time() - started >= self.stable_after else failures + 1
            delay = backoff_delay(failures, base=self.base_delay, cap=self.max_delay)
            self.restarts[child.name] += 1
            log.warning("%s (pid %d) exited with %s; restarting in %.1f s",
                        child.name, proc.pid, code, delay)  # fmt: skip
            with suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)

    async def _wait_or_stop(self, proc: asyncio.subprocess.Process) -> int | None:
        exited = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if exited.done():
            return exited.result()
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(exited, self.stop_timeout)
        except TimeoutError:
            log.warning("pid %d did not stop in %.0f s: killing it", proc.pid, self.stop_timeout)
            with suppress(ProcessLookupError):
                proc.kill()
            return await proc.wait()


async def supervise(config: WorkerConfig, *, log_level: str = "info") -> int:
    """Run one worker process per GPU in ``config.gpus`` until SIGINT/SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="voicectl-gpu-") as tmp:
        config_file = write_child_config(config, Path(tmp))
        supervisor = Supervisor(
            child_specs(config, config_file, log_level=log_level),
            stop_timeout=config.drain_seconds + 5.0,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, supervisor.stop.set)
        log.info("supervising %d worker processes (GPUs %s)", len(supervisor.children),
                 ",".join(map(str, config.gpus)))  # fmt: skip
        code = await supervisor.run()
        log.info("all worker processes stopped")
        return code
