"""Forwarded SSH port allocation."""

import socket

import pytest

from bot4lab.ports import allocate_ports, port_is_free


def test_lowest_free_ports_skipping_reserved_and_busy():
    busy = {10023, 10026}
    ports = allocate_ports(3, reserved={10022, 10025}, is_free=lambda p: p not in busy,
                           port_range=(10022, 10030))
    assert ports == [10024, 10027, 10028]


def test_no_duplicates_within_one_allocation():
    ports = allocate_ports(5, is_free=lambda p: True, port_range=(20000, 20010))
    assert ports == list(range(20000, 20005))


def test_exhausted_range_fails():
    with pytest.raises(RuntimeError, match="no 3 free ports"):
        allocate_ports(3, reserved={1, 2}, is_free=lambda p: True, port_range=(1, 3))


def test_zero_ports():
    assert allocate_ports(0, is_free=lambda p: False) == []


def test_port_is_free_sees_a_listener():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
