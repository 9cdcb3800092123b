"""Waiting on the sandbox in emulated time.

A test that waits for an emulated AWS operation (a stack update, an Amplify job, a domain
update) reads the state and, between reads, lets emulated seconds pass at once through the
sandbox's clock (`POST /_sandbox/clock/advance`), never sleeping on the wall clock. The limit
is in emulated seconds too, so a loaded machine cannot make the wait fail or pass.
"""

from __future__ import annotations

from typing import Any, Callable

from sandbox.client import SandboxClient


def sandbox_of(client: Any) -> SandboxClient:
    """The sandbox behind a SandboxClient or a boto3 client made by one."""
    return client if isinstance(client, SandboxClient) else SandboxClient(client.meta.endpoint_url)


def wait(client: Any, read: Callable[[], Any], done: Callable[[Any], bool], what: str,
         step: float = 1.0, limit: float = 3600.0) -> tuple[Any, list[Any]]:
    """Call `read()` until `done(value)`; between reads `step` emulated seconds pass.

    Returns (the last value, the distinct values in the order seen). `step` must be shorter
    than the shortest state a caller wants to see; fails after `limit` emulated seconds.
    """
    sandbox = sandbox_of(client)
    seen: list[Any] = []
    waited = 0.0
    while True:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if done(value):
            return value, seen
        assert waited < limit, f"{what}: still {value!r} after {limit} emulated s; seen {seen}"
        sandbox.advance(step)
        waited += step
