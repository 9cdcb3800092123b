"""Waiting on the sandbox in emulated time.

A test that waits for an emulated AWS operation (a stack update, an Amplify job, a domain
update) reads the state and, between reads, lets emulated seconds pass at once through the
sandbox's clock (`POST /_sandbox/clock/advance`), never sleeping on the wall clock. The limit
is in emulated seconds too, so a loaded machine cannot make the wait fail or pass.
"""

from __future__ import annotations

import threading
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


class AdvanceWhenPolled:
    """Let `seconds` emulated seconds pass once a running playbook has polled twice.

    For a playbook that waits on an emulated operation with `until`/`retries`: the operation is
    made long (in real time, far longer than the run's tasks take), and once `operation` has
    been called `polls` times since the `after` call (the last start before the wait), the
    first poll has answered "not done" and been shown on the console; the clock then moves on
    by `seconds` so that the next poll finds the operation done. A slow machine cannot make the
    operation end before the wait starts. Use as a context manager around the run.
    """

    def __init__(self, sandbox: SandboxClient, after: str, operation: str, seconds: float, polls: int = 2) -> None:
        self.sandbox, self.after, self.operation, self.seconds, self.polls = sandbox, after, operation, seconds, polls
        self.advanced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._since = sandbox.last_seq()

    def _seen(self) -> int:
        ops = [r["operation"] for r in self.sandbox.requests(self._since)]
        if self.after not in ops:
            return 0
        return ops[ops.index(self.after):].count(self.operation)

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self._seen() >= self.polls:
                self.sandbox.advance(self.seconds)
                self.advanced.set()
                return
            self._stop.wait(0.1)  # polls the request log; emulated time is the sandbox's

    def __enter__(self) -> "AdvanceWhenPolled":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
