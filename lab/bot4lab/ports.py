"""Host loopback ports: the nodes' forwarded SSH (a fixed range) and the lab
cluster's components (any free port)."""

from __future__ import annotations

import errno
import socket
from typing import Callable, Iterable, List

PORT_RANGE = (10022, 10999)


class PortsExhausted(RuntimeError):
    pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on host:port (we can bind it right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def allocate_ports(
    count: int,
    reserved: Iterable[int] = (),
    is_free: Callable[[int], bool] = port_is_free,
    port_range: tuple = PORT_RANGE,
) -> List[int]:
    """The ``count`` lowest ports in ``port_range`` that are neither reserved
    (recorded by a lab, running or not) nor in use on the host."""
    taken = set(reserved)
    ports: List[int] = []
    low, high = port_range
    for port in range(low, high + 1):
        if len(ports) == count:
            break
        if port in taken:
            continue
        if is_free(port):
            ports.append(port)
            taken.add(port)
    if len(ports) < count:
        raise PortsExhausted(f"no {count} free ports in {low}-{high} on 127.0.0.1")
    return ports


def free_ports(count: int) -> List[int]:
    """count distinct ports that are free on 127.0.0.1 now, chosen by the kernel."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()
