"""A throwaway PKI made with openssl: a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate, and a rogue CA with a certificate of its own."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path
    rogue_cert: Path
    rogue_key: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(name: str, cwd: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             cwd=cwd)  # fmt: skip


def make_signed(name: str, ca: str, cwd: Path, *, san: str | None = None) -> None:
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)  # fmt: skip
    extra: list[str] = []
    if san is not None:
        (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        extra = ["-extfile", f"{name}.ext"]
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra,
             cwd=cwd)  # fmt: skip


def make_pki(cwd: Path) -> Pki:
    make_ca("ca", cwd)
    make_ca("rogue-ca", cwd)
    make_signed("worker", "ca", cwd, san="IP:127.0.0.1,DNS:localhost")
    make_signed("client", "ca", cwd)
    make_signed("rogue", "rogue-ca", cwd)
    return Pki(
        ca=cwd / "ca.pem", server_cert=cwd / "worker.pem", server_key=cwd / "worker.key",
        client_cert=cwd / "client.pem", client_key=cwd / "client.key",
        rogue_ca=cwd / "rogue-ca.pem", rogue_cert=cwd / "rogue.pem", rogue_key=cwd / "rogue.key",
    )  # fmt: skip
