"""A stand-in for the Hugging Face hub's file API on loopback: what ``hf_hub_download``
asks of it (``HEAD`` and ``GET /{repo}/resolve/{revision}/{path}``, with the commit,
ETag and size headers, and ``Range`` for resuming), serving files from a folder."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Hub:
    url: str
    requests: list[str] = field(default_factory=list)  # "METHOD path [range]"


@contextmanager
def hub_server(repos: dict[str, Path]) -> Iterator[Hub]:
    """Serve ``repos`` (``owner/name`` -> folder) at revision ``main``."""
    hub = Hub(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _file(self) -> Path | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve" or parts[3] != "main":
                return None
            folder = repos.get("/".join(parts[:2]))
            path = folder / "/".join(parts[4:]) if folder else None
            return path if path is not None and path.is_file() else None

        def _answer(self, body: bool) -> None:
            hub.requests.append(f"{self.command} {self.path} {self.headers.get('Range', '')}")
            path = self._file()
            if path is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes=") and body:
                start = int(ranged[6:].split("-")[0])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if body:
                self.wfile.write(data[start:])

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
