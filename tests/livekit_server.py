"""A real livekit-server on loopback for the LiveKit tests (built by .ci/run with
``go install github.com/livekit/livekit-server/cmd/server@v1.13.5``).

The binary: VOICECTL_LIVEKIT_SERVER, else ``livekit-server`` or Go's ``server`` in
$GOBIN / $(go env GOPATH)/bin. Its config keeps every candidate on 127.0.0.1 and
points STUN at a closed local port, since this machine's network is closed and the
server would otherwise look up public STUN servers for its external address.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOOPBACK_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "livekit-loopback.yaml"
# The keys docs/webrtc.md uses, from the shipped config (the server wants 32+ characters).
((API_KEY, API_SECRET),) = yaml.safe_load(LOOPBACK_CONFIG.read_text())["keys"].items()
LIVEKIT_VERSION = "v1.13.5"
INSTALL_HINT = (
    f"go install github.com/livekit/livekit-server/cmd/server@{LIVEKIT_VERSION} "
    "(or set VOICECTL_LIVEKIT_SERVER to a livekit-server binary)"
)


@dataclass(frozen=True)
class LiveKitServer:
    url: str  # ws://127.0.0.1:PORT
    api_key: str
    api_secret: str
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """What LiveKit's tools (and voicectl's clients) read its credentials from."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key,
                "LIVEKIT_API_SECRET": self.api_secret}  # fmt: skip


def server_binary() -> str | None:
    given = os.environ.get("VOICECTL_LIVEKIT_SERVER")
    if given:
        return given
    found = shutil.which("livekit-server")
    if found:
        return found
    gopath = os.environ.get("GOBIN") or ""
    if not gopath and shutil.which("go"):
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout
        gopath = str(Path(gopath.strip()) / "bin")
    candidate = Path(gopath or Path.home() / "go" / "bin") / "server"
    return str(candidate) if candidate.is_file() else None


def _free_tcp() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_udp_range(size: int) -> int:
    """The first port of ``size`` consecutive UDP ports free on 127.0.0.1."""
    for start in range(51000, 60000, size):
        socks = []
        try:
            for port in range(start, start + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free UDP port range for livekit-server")


def loopback_config(port: int, udp: int, udp_end: int, stun: int) -> dict[str, Any]:
    """configs/livekit-loopback.yaml (what docs/webrtc.md runs) on the given ports."""
    config: dict[str, Any] = yaml.safe_load(LOOPBACK_CONFIG.read_text())
    config["port"] = port
    rtc = config["rtc"]
    rtc["port_range_start"], rtc["port_range_end"] = udp, udp_end
    rtc["stun_servers"] = [f"127.0.0.1:{stun}"]
    return config


@contextmanager
def livekit_server(binary: str) -> Iterator[LiveKitServer]:
    folder = Path(tempfile.mkdtemp(prefix="voicectl-livekit-"))
    port, udp = _free_tcp(), _free_udp_range(64)
    config = folder / "livekit.yaml"
    config.write_text(yaml.safe_dump(loopback_config(port, udp, udp + 63, _free_tcp())))
    log = folder / "livekit.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [binary, "--config", str(config), "--node-ip", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"livekit-server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("livekit-server did not answer within 30 s") from None
                time.sleep(0.2)
        yield LiveKitServer(f"ws://127.0.0.1:{port}", API_KEY, API_SECRET, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
