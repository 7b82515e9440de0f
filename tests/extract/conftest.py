"""Fixtures of the extract tests: a fake Retab server on loopback and clients that never sleep."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipelines.extract.client import ClientConfig, RetabClient
from pipelines.extract.ratelimit import RateLimiter

from .fake_retab import MARKER_KEY, FakeRetab, serve

MakeClient = Callable[..., tuple[RetabClient, list[float]]]


@pytest.fixture
def server() -> Iterator[FakeRetab]:
    with serve() as fake:
        yield fake


@pytest.fixture
def make_client(server: FakeRetab) -> Iterator[MakeClient]:
    """Clients of `server` whose waits are recorded, not slept; keywords go to ClientConfig."""
    clients: list[RetabClient] = []

    def make(**overrides: Any) -> tuple[RetabClient, list[float]]:
        sleeps: list[float] = []
        settings: dict[str, Any] = {
            "api_key": MARKER_KEY,
            "base_url": server.base_url,
            "connect_timeout": 2.0,
            "read_timeout": 2.0,
            **overrides,
        }
        unlimited = RateLimiter(math.inf, sleep=lambda seconds: None)  # a 429's hold must not sleep either
        client = RetabClient(ClientConfig(**settings), sleep=sleeps.append, rate_limiter=unlimited)
        clients.append(client)
        return client, sleeps

    yield make
    for client in clients:
        client.close()
