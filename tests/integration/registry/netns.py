"""A throwaway multi-host network: one bridge in the root namespace, one namespace per host.

Every host gets a veth pair (one end on the bridge, one in its namespace) and an
address in a private /24 under 10.231.0.0/16 chosen by the test; the root namespace
holds the bridge address (.1) and plays the orchestrator host. Everything is removed
on close. Creating namespaces needs root (CAP_NET_ADMIN) and iproute2; when that
fails the test fails, it does not skip.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from contextlib import suppress


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


class TestNetwork:
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:5]
        self.subnet = f"10.231.{random.randint(1, 254)}"
        self.bridge = f"vb{self.tag}"
        self.hosts: dict[str, str] = {}  # namespace -> address
        self._links: list[str] = []
        self._namespaces: list[str] = []

    @property
    def root_address(self) -> str:
        return f"{self.subnet}.1"

    def up(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        self._links.append(self.bridge)
        ip("addr", "add", f"{self.root_address}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> tuple[str, str]:
        """A namespace ``vn<tag><name>`` on the bridge; returns (namespace, address)."""
        index = len(self.hosts) + 2
        ns, outer, inner = f"vn{self.tag}{name}", f"vh{self.tag}{name}", f"vi{self.tag}{name}"
        address = f"{self.subnet}.{index}"
        ip("netns", "add", ns)
        self._namespaces.append(ns)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self._links.append(outer)
        ip("link", "set", inner, "netns", ns)
        ip("link", "set", outer, "master", self.bridge, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        ip("-n", ns, "link", "set", inner, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[ns] = address
        return ns, address

    def close(self) -> None:
        for ns in self._namespaces:
            with suppress(RuntimeError):
                ip("netns", "del", ns)
        for link in reversed(self._links):
            with suppress(RuntimeError):
                ip("link", "del", link)
