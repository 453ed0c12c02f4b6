"""TLS for the worker's gRPC port, both sides: the worker's server credentials from its
``tls_*`` keys, and a client's channel credentials from VOICECTL_WORKER_CA & co.

A client that names no CA dials in plaintext, as before: TLS is opt-in on both sides,
and a TLS worker refuses a plaintext client at the handshake (docs/security.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from voicectl.tokens import CLIENT_CERT_ENV, CLIENT_KEY_ENV, WORKER_CA_ENV, WORKER_TLS_NAME_ENV


class TLSConfigError(ValueError):
    """A TLS variable names a file that cannot be read, or half of a pair is missing."""


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class ClientTLS:
    """What a client presents and trusts; ``None`` from ``from_env`` means plaintext."""

    ca: bytes
    cert: bytes | None = None
    key: bytes | None = None
    server_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientTLS | None:
        env = os.environ if env is None else env
        ca_path = env.get(WORKER_CA_ENV, "").strip()
        cert_path = env.get(CLIENT_CERT_ENV, "").strip()
        key_path = env.get(CLIENT_KEY_ENV, "").strip()
        if not ca_path:
            if cert_path or key_path:
                raise TLSConfigError(
                    f"{CLIENT_CERT_ENV}/{CLIENT_KEY_ENV} are set but {WORKER_CA_ENV} is not: "
                    "name the CA that signed the worker's certificate to turn TLS on"
                )
            return None
        if bool(cert_path) != bool(key_path):
            raise TLSConfigError(f"set both {CLIENT_CERT_ENV} and {CLIENT_KEY_ENV}, or neither")
        return cls(
            ca=_read(ca_path, WORKER_CA_ENV),
            cert=_read(cert_path, CLIENT_CERT_ENV) if cert_path else None,
            key=_read(key_path, CLIENT_KEY_ENV) if key_path else None,
            server_name=env.get(WORKER_TLS_NAME_ENV, "").strip() or None,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )

    def options(self) -> list[tuple[str, str]]:
        """The name to verify when workers are dialled by address but certified by name."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


def aio_channel(
    target: str, options: Sequence[tuple[str, object]] = (), tls: ClientTLS | None = None
) -> grpc.aio.Channel:
    """A channel to a worker: TLS when the environment (or ``tls``) names a CA."""
    tls = tls or ClientTLS.from_env()
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(target, tls.credentials(), options=[*options, *tls.options()])


def sync_channel(target: str, tls: ClientTLS | None = None) -> grpc.Channel:
    tls = tls or ClientTLS.from_env()
    if tls is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, tls.credentials(), options=tls.options())


def server_credentials(
    cert: Path, key: Path, client_ca: Path | None = None
) -> grpc.ServerCredentials:
    """The worker's certificate; with ``client_ca``, only clients it signed get in (mTLS)."""
    return grpc.ssl_server_credentials(
        [(_read(key, "tls_key"), _read(cert, "tls_cert"))],
        root_certificates=None if client_ca is None else _read(client_ca, "tls_client_ca"),
        require_client_auth=client_ca is not None,
    )
