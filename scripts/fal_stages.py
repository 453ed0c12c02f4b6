"""Where the first audio of one short request goes: per-stage timestamps, worker and client.

Starts a `voicectl worker` in a child process with timestamps hooked into its stages,
sends TEXT RUNS times from this process (as `bench fal` does), and prints the median
time of each stage. Both processes read CLOCK_MONOTONIC (time.perf_counter on Linux),
so their stamps compare. A developer's tool: it patches internals by name.

    uv run python scripts/fal_stages.py --text "Sure." --runs 15 --gap-ms 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

STAGES = (
    ("send", "feed", "gRPC in: text sent -> the session has it"),
    ("feed", "job_start", "segmenter, scheduler hand-off to the inference pool"),
    ("job_start", "head_start", "phonemes (espeak-ng) and ids"),
    ("head_start", "head_end", "onnxruntime: the head graph (latent + first window)"),
    ("head_end", "job_end", "cut and clip the first window"),
    ("job_end", "frame0", "back on the event loop: level, resample, 20 ms framing"),
    ("frame0", "recv", "gRPC out: first frame made -> at the client"),
)


def serve(port: int, log: Path) -> None:
    """The worker, with a stamp at each stage of every stream's first frame."""
    from voicectl.worker import scheduler, session
    from voicectl.worker.adapters import piper_windows

    out = log.open("w", encoding="utf-8")
    stamps: dict[str, float] = {}
    lock = threading.Lock()

    def mark(name: str) -> None:
        with lock:
            stamps.setdefault(name, time.perf_counter())

    feed = session.SynthesisSession.feed_text

    def feed_text(self: Any, text: str) -> None:
        stamps.clear()
        mark("feed")
        feed(self, text)

    submit = scheduler.DeadlineExecutor.submit

    def submit_job(self: Any, func: Any, deadline: float) -> Any:
        def job() -> Any:
            mark("job_start")
            result = func()
            mark("job_end")
            return result

        return submit(self, job, deadline)

    start = piper_windows.WindowedVoice.start

    def head(self: Any, inputs: Any, frames: int) -> Any:
        mark("head_start")
        result = start(self, inputs, frames)
        mark("head_end")
        return result

    make = session.SynthesisSession._make_frame

    def make_frame(self: Any, pcm: Any, **kwargs: Any) -> Any:
        if self.next_sequence == 0:
            mark("frame0")
            out.write(json.dumps(stamps) + "\n")
            out.flush()
        return make(self, pcm, **kwargs)

    session.SynthesisSession.feed_text = feed_text  # type: ignore[method-assign]
    scheduler.DeadlineExecutor.submit = submit_job  # type: ignore[method-assign]
    piper_windows.WindowedVoice.start = head  # type: ignore[method-assign]
    session.SynthesisSession._make_frame = make_frame  # type: ignore[method-assign]

    from voicectl.cli.app import main

    sys.argv = ["voicectl", "worker", "--port", str(port), "--ttl", "0", "--log-level", "warning"]
    main()


async def measure(port: int, text: str, runs: int, gap_s: float) -> list[dict[str, float]]:
    from voicectl.bench import fal
    from voicectl.rpc.client import SynthesisRequest, TTSClient

    async with TTSClient(f"127.0.0.1:{port}") as client:
        await client.wait_ready(timeout=60)
        request = SynthesisRequest(model_id=await fal.prepare(client, ""))
        rows = []
        for _ in range(runs):
            await asyncio.sleep(gap_s)
            clock = fal._SendClock()
            first = None
            async for frame in client.stub.Synthesize(fal._requests(request, text, clock)):
                if first is None and frame.pcm:
                    first = time.perf_counter()
            if clock.text_sent is None or first is None:
                raise RuntimeError("the worker sent no audio")
            rows.append({"send": clock.text_sent, "recv": first})
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="Sure.")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gap-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.log)
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "stamps.jsonl"
        worker = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--log", str(log)],
            env={**os.environ, "GRPC_VERBOSITY": "ERROR"},
        )
        try:
            total = args.warmup + args.runs
            client = asyncio.run(measure(port, args.text, total, args.gap_ms / 1000))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        server = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    rows = [{**s, **c} for s, c in zip(server, client, strict=True)][args.warmup :]
    medians = {
        f"{a}->{b}": statistics.median((row[b] - row[a]) * 1000 for row in rows)
        for a, b, _ in STAGES
    }
    total_ms = statistics.median((row["recv"] - row["send"]) * 1000 for row in rows)
    if args.json:
        print(json.dumps({"text": args.text, "runs": len(rows), "stages_ms": medians,
                          "total_ms": total_ms}))  # fmt: skip
        return
    print(f"{args.text!r}: {len(rows)} runs, {args.gap_ms:g} ms idle before each, median ms")
    for (a, b, what), value in zip(STAGES, medians.values(), strict=True):
        print(f"  {value:6.2f}  {a:>10} -> {b:<10}  {what}")
    print(f"  {total_ms:6.2f}  total (text sent -> first frame at the client)")


if __name__ == "__main__":
    main()
