"""Keep every library offline inside a worker: a non-loopback connection or DNS lookup fails at once.

onnx2tf's TensorFlow path downloads sample images (trap 1) and TF may probe cloud metadata; a
conversion must never depend on the network, so a worker fails loudly rather than hang or leak.
Every worker calls `block_network()` first (modelport/workers/shell.py).
"""

from __future__ import annotations

import socket


class NetworkBlocked(ConnectionError):
    """Raised when a library inside modelport tries to open a network connection."""


_LOCAL_FAMILIES = {getattr(socket, "AF_UNIX", None)}


def _is_loopback_host(host) -> bool:
    """Only IP literals count: a name like '127.example.com' would be resolved by C code that
    the getaddrinfo guard does not see. 'localhost' is resolved from the hosts file."""
    import ipaddress

    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        return _is_loopback_host(address[0])
    return True  # AF_UNIX paths and the like are local


def block_network() -> None:
    """Make any non-loopback connection fail at once with a clear error (trap 1 in ARCHITECTURE.md).

    onnx2tf's TensorFlow path downloads sample images; TF may probe cloud metadata. A conversion
    must never depend on the network, so we fail loudly rather than hang or leak.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if self.family not in _LOCAL_FAMILIES and not _is_loopback(address):
            raise NetworkBlocked(f"modelport runs offline: blocked a connection to {address!r}")
        return original_connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family not in _LOCAL_FAMILIES and not _is_loopback(address):
            raise NetworkBlocked(f"modelport runs offline: blocked a connection to {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    original_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_loopback_host(host):
            raise NetworkBlocked(f"modelport runs offline: blocked a DNS lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
