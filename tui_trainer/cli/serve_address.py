"""Where `--serve` listens, and the names a browser may use for it (the Host and Origin it will send)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Address:
    """Where the console is served: `host:port`, or a Unix socket reached as `localhost:port` through SSH."""

    host: str
    port: int
    socket: Path | None = None

    @property
    def name(self) -> str:
        """The host part of the URL to open (for 0.0.0.0 or ::, this machine's name)."""
        if self.socket is not None:
            return "localhost"
        ip = _ip(self.host)
        if ip is None:
            return self.host.lower()
        if ip.is_unspecified:
            return socket.gethostname().lower()
        return f"[{ip}]" if ip.version == 6 else str(ip)

    @property
    def url(self) -> str:
        return f"http://{self.name}" if self.port == 80 else f"http://{self.name}:{self.port}"

    def hosts(self) -> frozenset[str]:
        """The `Host` headers a browser that opened this address sends (port 80 may go unsaid)."""
        names = {self.name}
        if self.socket is not None or _loopback_or_any(self.host):
            names.update(LOOPBACK_NAMES)
        with_port = {f"{name}:{self.port}" for name in names}
        return frozenset(with_port | names) if self.port == 80 else frozenset(with_port)

    def origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.hosts())


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_local(host: str) -> bool:
    """Whether only this machine can reach `host` (a loopback address or "localhost")."""
    ip = _ip(host)
    return host.lower() == "localhost" or (ip is not None and ip.is_loopback)


def _loopback_or_any(host: str) -> bool:
    ip = _ip(host)
    return is_local(host) or (ip is not None and ip.is_unspecified)
