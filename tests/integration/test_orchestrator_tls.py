"""wss:// and https:// on the orchestrator's own ports, with certificates openssl makes
here: a client that trusts the CA talks; plaintext and untrusting clients do not."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from tests.conftest import WorkerFactory
from tests.e2e.test_cli import VOICECTL
from tests.pki import Pki, make_pki
from voicectl.app import build_orchestrator
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import (
    OrchestratorConfig,
    OrchestratorConfigError,
    load_orchestrator_config,
)
from voicectl.talk.client import TalkClient
from voicectl.tokens import ORCHESTRATOR_CA_ENV
from voicectl.web_tls import WebTLSError, client_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_wss_and_https_with_a_ca_the_client_trusts(
    pki: Pki, make_worker: WorkerFactory, asr_engine: AsrEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    worker = await make_worker()
    config = OrchestratorConfig(
        ws_port=0, worker=worker.address, web="127.0.0.1:0",
        tls_cert=pki.server_cert, tls_key=pki.server_key,
    )  # fmt: skip
    orchestrator = build_orchestrator(config, asr=asr_engine)
    await orchestrator.start()
    try:
        assert orchestrator.address.startswith("wss://")
        assert orchestrator.web is not None
        assert orchestrator.web.address.startswith("https://")
        monkeypatch.setenv(ORCHESTRATOR_CA_ENV, str(pki.ca))
        async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
            await talk.send_text("hello there")
            done = await talk.wait_for(ev.ReplyDone, timeout=30)
            assert done.audio_before > 0  # the reply's audio came over TLS
        async with httpx.AsyncClient(verify=client_context() or False) as http:
            page = await http.get(f"{orchestrator.web.address}/")
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        plain = orchestrator.address.replace("wss://", "ws://")
        with pytest.raises(InvalidMessage):  # a plaintext client gets no session
            async with asyncio.timeout(10), connect(plain, open_timeout=5):
                pass
        monkeypatch.delenv(ORCHESTRATOR_CA_ENV)
        with pytest.raises(ssl.SSLCertVerificationError):  # nobody vouched for this CA
            async with TalkClient(orchestrator.address):
                pass
        monkeypatch.setenv(ORCHESTRATOR_CA_ENV, str(pki.rogue_ca))
        with pytest.raises(ssl.SSLCertVerificationError):
            async with TalkClient(orchestrator.address):
                pass
        env = {**os.environ, ORCHESTRATOR_CA_ENV: str(pki.ca)}
        probe = await asyncio.to_thread(
            subprocess.run,
            [*VOICECTL, "health", "orchestrator", "--url", orchestrator.address, "--json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert "SERVING" in probe.stdout
    finally:
        await orchestrator.stop()


def test_tls_keys_are_checked_before_anything_starts(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(OrchestratorConfigError, match="tls_cert and tls_key"):
        load_orchestrator_config(cli={"tls_cert": str(pki.server_cert)})
    with pytest.raises(OrchestratorConfigError, match="readable PEM file"):
        load_orchestrator_config(cli={"tls_cert": "/nope.pem", "tls_key": str(pki.server_key)})
    config_file = tmp_path / "orchestrator.yaml"
    (tmp_path / "certs").mkdir()
    for name in ("server.pem", "server.key"):
        source = pki.server_cert if name.endswith("pem") else pki.server_key
        (tmp_path / "certs" / name).write_bytes(source.read_bytes())
    config_file.write_text(
        "orchestrator:\n  tls_cert: certs/server.pem\n  tls_key: certs/server.key\n"
    )
    config = load_orchestrator_config(config_file)  # paths next to the file
    assert config.tls_cert == tmp_path / "certs" / "server.pem"
    mismatched = replace(config, tls_key=pki.rogue_key)
    orchestrator = build_orchestrator(mismatched)
    with pytest.raises(WebTLSError, match="cannot be used"):
        asyncio.run(orchestrator.start())
    with pytest.raises(WebTLSError, match=ORCHESTRATOR_CA_ENV):
        client_context({ORCHESTRATOR_CA_ENV: str(tmp_path / "missing.pem")})
