"""rediss:// URLs: the registry over TLS to a real redis-server with a test-made certificate."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.registry.conftest import REDIS_SERVER, free_port
from voicectl.registry.base import RegistryUnavailable, WorkerRecord
from voicectl.registry.redis_backend import RedisRegistry


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("redis-server with TLS did not start (built without TLS?)")
            time.sleep(0.05)
    yield port, cert
    proc.kill()
    proc.wait(timeout=10)


async def test_registry_over_tls(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    registry = await RedisRegistry.connect(
        f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}", prefix="tls"
    )
    try:
        record = WorkerRecord(worker_id="w-tls", host="127.0.0.1", port=50051)
        await registry.register(record, ttl=5)
        assert [r.worker_id for r in await registry.list_workers()] == ["w-tls"]
    finally:
        await registry.close()


async def test_plain_redis_url_against_a_tls_port_is_a_clear_error(
    tls_redis: tuple[int, Path],
) -> None:
    port, _ = tls_redis
    with pytest.raises(RegistryUnavailable) as err:
        await RedisRegistry.connect(f"redis://127.0.0.1:{port}/0", timeout=2)
    assert f"127.0.0.1:{port}" in str(err.value)
