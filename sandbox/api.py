"""The extension contract: what a service module in `sandbox/services/` may use.

A service module imports from here (and from `sandbox.state` / `sandbox.protocol`), never
from `sandbox.server`: the server imports the services lazily, and the services see the
server only through the `Sandbox` protocol below, so there is no import cycle.

A service module has `install(sandbox: Sandbox)`; there it registers handlers for AWS
operations (`sandbox.handle`), control routes under /_sandbox/<name>/ (`sandbox.control`)
and reset hooks (`sandbox.on_reset`), and applies its moto patches. A module that patches
moto's internals declares the moto release it was written against (`MOTO_VERSION`, a
top-level string constant) and calls `require_moto(MOTO_VERSION, __file__)` before patching;
the server also checks every extension's `MOTO_VERSION` at start-up (`check_moto_versions`),
without importing the extension.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.state import BadControlRequest, Clock, SandboxState

__all__ = [
    "ACCOUNT_ID", "BadControlRequest", "Call", "Clock", "ControlHandler", "Handler",
    "MotoVersionError", "Sandbox", "ServiceError", "check_moto_versions", "declared_moto_version",
    "installed_moto_version", "require_moto",
]

ACCOUNT_ID = "123456789012"


class ServiceError(Exception):
    """An AWS error returned by an emulated operation, in the request's own protocol."""

    def __init__(self, code: str, message: str, status: int = 400, sender_fault: bool = True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault


@dataclass
class Call:
    """One AWS request routed to an emulated operation."""

    service: str
    operation: str
    region: str
    account_id: str
    protocol: str
    params: dict[str, Any]
    sandbox: "Sandbox"


# A handler returns the output dict (serialised for the request's protocol), a raw
# (status, headers, body) tuple, or None to pass the request on to moto; it raises
# ServiceError for AWS errors.
Handler = Callable[[Call], Any]
# A control handler gets (method, json_body, query + {"path": rest of the route}) and returns
# (http status, JSON-able result); it raises BadControlRequest for a 400.
ControlHandler = Callable[[str, dict[str, Any], dict[str, str]], tuple[int, Any]]


class Sandbox(Protocol):
    """What the server offers an extension (implemented by `sandbox.server.Sandbox`)."""

    state: SandboxState
    clock: Clock

    def handle(self, service: str, operation: str) -> Callable[[Handler], Handler]:
        """Decorator: serve `service.operation` with the handler instead of moto."""

    def own_service(self, service: str) -> None:
        """Declare a service moto lacks: its unregistered operations answer NotImplemented."""

    def control(self, name: str) -> Callable[[ControlHandler], ControlHandler]:
        """Decorator: serve /_sandbox/<name>[/...] with the handler."""

    def on_reset(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call fn on POST /_sandbox/reset (drop the extension's state and settings)."""


# ---------------------------------------------------------------------------
# moto version guard
# ---------------------------------------------------------------------------

class MotoVersionError(RuntimeError):
    """The installed moto is not the release an extension's patches were written for."""


_DECLARATION = re.compile(r'^MOTO_VERSION\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)


def installed_moto_version() -> str:
    return importlib.metadata.version("moto")


def _shown(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def require_moto(written_for: str, where: str, installed: str | None = None) -> None:
    """Refuse to patch moto unless it is the release the patches in `where` were written for.

    The patches reach into moto's private classes and methods; any other release (even a
    patch release) may have moved them, and a patch that silently misses makes the sandbox
    lie. Set SANDBOX_ALLOW_MOTO=<installed version> to run anyway while porting.
    """
    installed = installed or installed_moto_version()
    if installed == written_for or os.environ.get("SANDBOX_ALLOW_MOTO") == installed:
        return
    raise MotoVersionError(
        f"{_shown(where)} patches moto internals as of moto {written_for}, but moto {installed} "
        f"is installed: install moto=={written_for} (pinned in requirements.txt), or port the "
        f"patches in {_shown(where)} to moto {installed} and set MOTO_VERSION there "
        f"(SANDBOX_ALLOW_MOTO={installed} skips this check while porting)"
    )


def declared_moto_version(module: str) -> tuple[str, str | None]:
    """(source file, MOTO_VERSION) of an extension module, read without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise MotoVersionError(f"sandbox extension {module} is not importable")
    with open(spec.origin, encoding="utf-8") as fh:
        match = _DECLARATION.search(fh.read())
    return spec.origin, match.group(1) if match else None


def check_moto_versions(modules: list[str], installed: str | None = None) -> None:
    """At start-up: every extension that declares MOTO_VERSION matches the installed moto."""
    installed = installed or installed_moto_version()
    for module in modules:
        origin, written_for = declared_moto_version(module)
        if written_for is not None:
            require_moto(written_for, origin, installed)
