"""TLS and mutual TLS on the worker's gRPC port, with certificates openssl makes here:
a CA, the worker's certificate (127.0.0.1), a client certificate it signed, and a
second CA nobody trusts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.e2e.test_cli import ENV, VOICECTL
from tests.pki import Pki, make_pki
from voicectl.orchestrator import events as ev
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.tls import ClientTLS, TLSConfigError, aio_channel
from voicectl.talk.client import TalkClient
from voicectl.tokens import CLIENT_CERT_ENV, CLIENT_KEY_ENV, WORKER_CA_ENV
from voicectl.worker.config import ConfigError, load_worker_config


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls(ca: Path, cert: Path | None = None, key: Path | None = None) -> ClientTLS:
    env = {WORKER_CA_ENV: str(ca)}
    if cert is not None and key is not None:
        env |= {CLIENT_CERT_ENV: str(cert), CLIENT_KEY_ENV: str(key)}
    tls = ClientTLS.from_env(env)
    assert tls is not None
    return tls


async def _speaks(target: str, tls: ClientTLS | None) -> bool:
    """One short synthesis; False when the TLS handshake (or plaintext) is refused."""
    channel = aio_channel(target, tls=tls) if tls else grpc.aio.insecure_channel(target)
    async with TTSClient(target, channel=channel) as client:
        call = client.synthesize("Hello.", SynthesisRequest(session_id="tls-check"))
        try:
            _, _, frames = await asyncio.wait_for(collect_pcm(call), 10)
        except grpc.aio.AioRpcError as exc:
            refused_with = exc.code()
        else:
            assert frames
            assert frames[-1].final
            return True
    assert refused_with == grpc.StatusCode.UNAVAILABLE  # the handshake failed, no RPC ran
    return False


async def test_a_tls_worker_speaks_only_over_tls_to_a_trusted_certificate(
    make_worker: WorkerFactory, pki: Pki
) -> None:
    worker = await make_worker(tls_cert=pki.server_cert, tls_key=pki.server_key)
    assert await _speaks(worker.address, _tls(pki.ca))
    assert not await _speaks(worker.address, None)  # plaintext is refused
    assert not await _speaks(worker.address, _tls(pki.rogue_ca))  # an impostor's CA


async def test_mutual_tls_admits_only_clients_the_ca_signed(
    make_worker: WorkerFactory, pki: Pki
) -> None:
    worker = await make_worker(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca
    )
    assert await _speaks(worker.address, _tls(pki.ca, pki.client_cert, pki.client_key))
    assert not await _speaks(worker.address, _tls(pki.ca))  # no client certificate
    assert not await _speaks(worker.address, _tls(pki.ca, pki.rogue_cert, pki.rogue_key))


async def test_the_orchestrator_and_the_cli_dial_a_tls_worker_from_the_environment(
    make_worker: WorkerFactory,
    make_orchestrator: OrchestratorFactory,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = await make_worker(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca
    )
    client_env = {WORKER_CA_ENV: str(pki.ca), CLIENT_CERT_ENV: str(pki.client_cert),
                  CLIENT_KEY_ENV: str(pki.client_key)}  # fmt: skip
    for key, value in client_env.items():
        monkeypatch.setenv(key, value)
    orchestrator = await make_orchestrator(worker.address)
    async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
        await talk.send_text("hello there")
        await talk.wait_for(ev.ReplyDone, timeout=30)
    assert talk.audio_frames > 0, "the reply's audio came through the TLS worker"

    async def health(env: dict[str, str]) -> int:
        proc = await asyncio.create_subprocess_exec(
            *VOICECTL, "health", "worker", "--worker", worker.address, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return await asyncio.wait_for(proc.wait(), 60)

    assert await health({**ENV, **client_env}) == 0
    plain = {k: v for k, v in ENV.items() if k not in client_env}
    assert await health(plain) == 3  # a plaintext probe never gets an answer


def test_tls_settings_are_checked_before_anything_listens(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert and tls_key: set both"):
        load_worker_config(cli={"tls_cert": str(pki.server_cert)})
    with pytest.raises(ConfigError, match="tls_client_ca needs tls_cert"):
        load_worker_config(cli={"tls_client_ca": str(pki.ca)})
    with pytest.raises(
        ConfigError, match=r"VOICECTL_TLS_KEY must be a readable PEM file.*no such file"
    ):
        load_worker_config(env={"VOICECTL_TLS_CERT": str(pki.server_cert),
                                "VOICECTL_TLS_KEY": str(tmp_path / "gone.key")})  # fmt: skip
    config = tmp_path / "worker.yaml"
    (tmp_path / "certs").mkdir()
    for path in (pki.server_cert, pki.server_key):
        (tmp_path / "certs" / path.name).write_bytes(path.read_bytes())
    config.write_text("worker:\n  tls_cert: certs/worker.pem\n  tls_key: certs/worker.key\n")
    loaded = load_worker_config(yaml_path=config)  # relative to the file, like voicepacks_dir
    assert loaded.tls_cert == tmp_path / "certs" / "worker.pem"
    with pytest.raises(TLSConfigError, match="VOICECTL_WORKER_CA is not"):
        ClientTLS.from_env({CLIENT_CERT_ENV: str(pki.client_cert)})
    with pytest.raises(TLSConfigError, match="set both VOICECTL_CLIENT_CERT"):
        ClientTLS.from_env({WORKER_CA_ENV: str(pki.ca), CLIENT_KEY_ENV: str(pki.client_key)})
    with pytest.raises(TLSConfigError, match="VOICECTL_WORKER_CA: cannot read"):
        ClientTLS.from_env({WORKER_CA_ENV: str(tmp_path / "missing.pem")})
