"""preflight's Ray head check against real loopback sockets: one that listens, one that does not."""

from __future__ import annotations

import socket

import pytest

from auforget.tracking.preflight import check_ray_head
from tests.servers import free_port


def test_a_listening_head_passes_and_local_choices_are_left_to_ray():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        check_ray_head(f"127.0.0.1:{port}")
        check_ray_head(f"ray://127.0.0.1:{port}")
    for address in ("", "auto", "local"):
        check_ray_head(address)


def test_nothing_listening_is_named_with_what_to_start():
    port = free_port()
    with pytest.raises(
        ValueError,
        match=rf"no Ray head answers at 127\.0\.0\.1:{port} .*refused.*"
        rf"`ray start --head --port {port}`",
    ):
        check_ray_head(f"127.0.0.1:{port}")


@pytest.mark.parametrize("address", ["head-host", "head-host:", "head-host:port", ":6379"])
def test_an_address_without_host_and_port_is_refused_before_any_connection(address):
    with pytest.raises(
        ValueError, match=r"expected host:port \(e\.g\. head-host:6379\), ray://host:port or auto"
    ):
        check_ray_head(address)
