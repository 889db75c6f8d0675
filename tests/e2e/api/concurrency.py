"""A real HTTP server for concurrency tests, and a way to send many requests at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from cagnotte.api.app import create_app
from cagnotte.asgi import proxy_options

SERVER_START_TIMEOUT_SECONDS = 10


@pytest.fixture
def server_url(postgres_url, services) -> Iterator[str]:
    """The app over the test's PostgreSQL database, served by uvicorn in a thread."""
    with running_server(create_app(services), **proxy_options(services.settings)) as url:
        yield url


@contextmanager
def running_server(app: Any, **options: Any) -> Iterator[str]:
    """Serve `app` with uvicorn (and these options of its Config) in a thread; its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    # FastAPI (0.16x) builds its routes' state on the first request, which takes
    # seconds on a loaded machine: done here once, not inside a test's timeout.
    httpx.get(f"{url}/healthz", timeout=120)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT_SECONDS)
        listener.close()


def all_at_once(count: int, request: Callable[[httpx.Client], httpx.Response]):
    """Send `count` requests from as many threads, released together by a barrier."""
    barrier = threading.Barrier(count)
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    with httpx.Client(limits=limits, timeout=60) as client:

        def send(_index: int) -> httpx.Response:
            barrier.wait()
            return request(client)

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(send, range(count)))
