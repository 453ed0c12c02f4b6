"""How a worker is addressed, the same way on every command and in every config:
``HOST:PORT`` or ``grpc://HOST:PORT`` (``[v6]:PORT`` too), or a gRPC target such as
``unix:/run/voicectl.sock`` or ``dns:///tts.internal:50051`` passed through as is.

The orchestrator's ``worker`` key also takes ``redis://...`` (route over the workers
registered there, the same as ``redis``) and ``embedded://`` (run one in-process, the
same as leaving it empty); those are resolved by its config, not here.
"""

from __future__ import annotations

GRPC_SCHEME = "grpc://"
PASS_THROUGH = ("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:")
FORMS = "HOST:PORT, grpc://HOST:PORT, or a unix:/dns: gRPC target (e.g. 127.0.0.1:50051)"


class WorkerAddressError(ValueError):
    """An address that names no worker; the message says which forms are accepted."""


def split_host_port(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``grpc://HOST:PORT``) as (host, port); WorkerAddressError else."""
    bare = address.strip().removeprefix(GRPC_SCHEME).rstrip("/")
    host, sep, port_text = bare.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or "/" in host or not port_text.isdigit():
        raise WorkerAddressError(f"{address!r}: give {FORMS}")
    if not 0 < int(port_text) < 65536:
        raise WorkerAddressError(f"{address!r}: the port must be 1..65535; give {FORMS}")
    return host, int(port_text)


def grpc_target(address: str) -> str:
    """The target gRPC dials for a worker address (``grpc://`` dropped, checked)."""
    text = address.strip()
    if text.startswith(PASS_THROUGH):
        return text
    host, port = split_host_port(text)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
