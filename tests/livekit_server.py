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

API_KEY = "devkey"
API_SECRET = "voicectl-tests-secret-of-32-chars-or-more"  # the server wants 32+
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


CONFIG = """\
port: {port}
bind_addresses: [127.0.0.1]
keys:
  {key}: {secret}
rtc:
  tcp_port: 0
  port_range_start: {udp}
  port_range_end: {udp_end}
  use_external_ip: false
  enable_loopback_candidate: true
  interfaces:
    includes: [lo]
  ips:
    includes: [127.0.0.1/32]
  stun_servers: ["127.0.0.1:{stun}"]
logging:
  level: info
"""


@contextmanager
def livekit_server(binary: str) -> Iterator[LiveKitServer]:
    folder = Path(tempfile.mkdtemp(prefix="voicectl-livekit-"))
    port, udp = _free_tcp(), _free_udp_range(64)
    config = folder / "livekit.yaml"
    config.write_text(CONFIG.format(port=port, key=API_KEY, secret=API_SECRET, udp=udp,
                                    udp_end=udp + 63, stun=_free_tcp()))  # fmt: skip
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
