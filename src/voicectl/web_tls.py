"""TLS for the orchestrator's own ports (the WebSocket, the ``--web`` pages), both sides.

The server: an ``ssl.SSLContext`` from the orchestrator's ``tls_cert``/``tls_key``
(TLS 1.2 or newer). A client: the system's trust store, or the CA named by
VOICECTL_ORCHESTRATOR_CA (a private CA or a self-signed certificate); the host name is
always verified. Plain ``ws://`` and ``http://`` stay as they were: TLS is opt-in.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from voicectl.tokens import ORCHESTRATOR_CA_ENV


class WebTLSError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names it."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """What the orchestrator's listeners serve TLS with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise WebTLSError(f"tls_cert {cert} / tls_key {key}: cannot be used: {exc}") from None
    return context


def client_context(env: Mapping[str, str] | None = None) -> ssl.SSLContext | None:
    """The context a client dials ``wss://``/``https://`` with when VOICECTL_ORCHESTRATOR_CA
    names a CA; None means the library's default (the system's trust store)."""
    env = os.environ if env is None else env
    ca = env.get(ORCHESTRATOR_CA_ENV, "").strip()
    if not ca:
        return None
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise WebTLSError(f"{ORCHESTRATOR_CA_ENV}={ca}: cannot be used as a CA: {exc}") from None
