"""The sandbox WSGI application: moto's server wrapped by one middleware.

The middleware identifies each signed request (service + operation, from botocore's
models), logs it, applies fault rules, rejects requests that do not conform to the
service model, routes operations that moto lacks to the sandbox's own emulations, and
serves the control routes under /_sandbox/. moto's own files are never edited: its
response classes and backends are extended at runtime by the modules in
`sandbox/services/`.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib
import io
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from sandbox import protocol
# Re-exported: the extension contract lives in sandbox.api (services import it from there).
from sandbox.api import ACCOUNT_ID, Call, ControlHandler, Handler, ServiceError, check_moto_versions
from sandbox.state import BadControlRequest, SandboxState, sleep_ms

__all__ = ["ACCOUNT_ID", "CONTROL_PREFIX", "EXTENSION_MODULES", "Call", "ControlHandler", "Handler",
           "Sandbox", "ServiceError", "build_app"]

CONTROL_PREFIX = "/_sandbox/"

# Extensions by the service (= control route name) they extend. Each module has
# `install(sandbox)`; it is imported and installed on the first request for its service,
# because importing moto's backends is slow (moto.cloudformation pulls in EC2 and more) and
# start-up should cost only what is used.
EXTENSION_MODULES = {
    "amplify": "sandbox.services.amplify",
    "cloudformation": "sandbox.services.cloudformation",
    "dynamodb": "sandbox.services.dynamodb",
    "cloudwatch": "sandbox.services.cloudwatch",
    "appsync": "sandbox.services.appsync",
}

WsgiResponse = tuple[int, list[tuple[str, str]], bytes]


class Sandbox:
    """Registry that extensions plug into, and the WSGI middleware itself."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]] | None = None) -> None:
        self.state = SandboxState()
        self.clock = self.state.clock
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._owned_services: set[str] = set()
        self._controls: dict[str, ControlHandler] = {}
        self._reset_hooks: list[Callable[[], None]] = []
        self._pending: dict[str, str] = {}
        # Services whose extension is pending or being installed: a request for one waits on
        # the lock until the install has finished (not just started) in another thread.
        self._not_ready: set[str] = set()
        self._install_lock = threading.Lock()
        # DynamoDB writes one at a time, as each item's writes are in AWS: a conditional write
        # (the rollback lock's lease) must never see another write land between its check and set.
        self._dynamodb_writes = threading.Lock()
        self.moto_app = moto_app or _make_moto_app()

    # -- extension API -----------------------------------------------------
    def handle(self, service: str, operation: str) -> Callable[[Handler], Handler]:
        """Decorator: serve `service.operation` here instead of in moto.

        A handler returns the output dict (serialised for the request's protocol), or
        None to pass the request on to moto, and raises ServiceError for AWS errors.
        """

        def register(fn: Handler) -> Handler:
            self._handlers[(service, operation)] = fn
            return fn

        return register

    def own_service(self, service: str) -> None:
        """Declare a service moto lacks: its unregistered operations answer NotImplemented."""
        self._owned_services.add(service)

    def control(self, name: str) -> Callable[[ControlHandler], ControlHandler]:
        """Decorator: serve /_sandbox/<name>[/...]; handler(method, json_body, query)."""

        def register(fn: ControlHandler) -> ControlHandler:
            self._controls[name] = fn
            return fn

        return register

    def on_reset(self, fn: Callable[[], None]) -> Callable[[], None]:
        self._reset_hooks.append(fn)
        return fn

    def install_extensions(self, modules: dict[str, str] | None = None, lazy: bool = True) -> None:
        """Register extensions; install them now, or (lazy) on first use of their service."""
        modules = EXTENSION_MODULES if modules is None else modules
        # Fail now, naming the file, if moto is not the release the patches were written for.
        check_moto_versions(list(modules.values()))
        self._pending.update(modules)
        self._not_ready.update(self._pending)
        if not lazy:
            for service in list(self._pending):
                self.ensure_installed(service)

    def ensure_installed(self, service: str) -> None:
        if service not in self._not_ready:
            return
        with self._install_lock:
            module = self._pending.pop(service, None)
            if module is not None:
                importlib.import_module(module).install(self)
            self._not_ready.discard(service)

    def reset(self) -> None:
        """POST /_sandbox/reset: drop all AWS state, the fault rules and the request log, and
        reset each extension's settings, and undo clock advances; the time scale is kept."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self.state.reset()
        for hook in self._reset_hooks:
            hook()

    # -- WSGI ----------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            status, headers, body = self._serve_control(environ, path[len(CONTROL_PREFIX):])
            return _respond(start_response, status, headers, body)
        body = _buffer_body(environ)
        call = protocol.resolve(environ)
        if call is None:
            return self.moto_app(environ, start_response)
        self.ensure_installed(call.service)
        started = time.monotonic()
        entry = self.state.record(
            call.service, call.operation, protocol.is_mutating(call.operation), call.region
        )
        serial = self._dynamodb_writes if call.service == "dynamodb" and entry.mutating else contextlib.nullcontext()
        try:
            with serial:
                status, headers, payload = self._dispatch(environ, call, body, entry)
        except Exception as err:  # noqa: BLE001 - a sandbox bug must still answer like AWS
            traceback.print_exc()
            status, headers, payload = protocol.error_response(
                call.protocol, "InternalFailure", f"sandbox error: {err!r}", 500, False)
        if entry.response_delay_ms:
            sleep_ms(entry.response_delay_ms)  # done, but the answer comes too late
        entry.status = status
        entry.duration_ms = round((time.monotonic() - started) * 1000, 3)
        if status >= 400:
            entry.error_code = _error_code(headers, payload)
        return _respond(start_response, status, headers, payload)

    def _dispatch(self, environ: dict[str, Any], call: protocol.ResolvedCall, body: bytes,
                  entry: Any) -> WsgiResponse:
        if call.operation_model is None:
            return protocol.error_response(
                call.protocol, "UnknownOperationException",
                f"{call.service}: the request matches no operation of the service model",
            )
        rule = self.state.take_fault(call.service, call.operation)
        if rule is not None:
            sleep_ms(rule.latency_ms)
            entry.response_delay_ms = rule.response_delay_ms
            if rule.error_code:
                entry.fault = True
                return protocol.error_response(
                    call.protocol, rule.error_code, rule.message, rule.http_status,
                    sender_fault=rule.http_status < 500,
                )
        try:
            params = protocol.parse_params(environ, call, body)
        except Exception:  # noqa: BLE001 - unparseable: let moto answer as it would
            params = None
        if params is not None:
            try:
                validate_parameters(params, call.operation_model.input_shape)
            except ParamValidationError as err:
                code = "ValidationError" if call.protocol == "query" else "ValidationException"
                return protocol.error_response(call.protocol, code, str(err).replace("\n", " "))
        handler = self._handlers.get((call.service, call.operation))
        if handler is not None:
            try:
                result = handler(Call(call.service, call.operation, call.region, ACCOUNT_ID,
                                      call.protocol, params or {}, self))
            except ServiceError as err:
                return protocol.error_response(call.protocol, err.code, err.message, err.status,
                                               err.sender_fault)
            if result is not None:
                return _serialise(call, result)
            environ["wsgi.input"] = io.BytesIO(body)
        elif call.service in self._owned_services:
            return _not_implemented(call)
        return self._call_moto(environ, call, body)

    def _call_moto(self, environ: dict[str, Any], call: protocol.ResolvedCall,
                   body: bytes) -> WsgiResponse:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = headers

        environ["wsgi.input"] = io.BytesIO(body)
        try:
            chunks = self.moto_app(environ, capture)
            payload = b"".join(chunks)
            if hasattr(chunks, "close"):
                chunks.close()
        except NotImplementedError:
            return _not_implemented(call)
        except Exception:
            if call.service.replace("-", "") not in _moto_services():
                return _not_implemented(call)
            raise
        return captured["status"], captured["headers"], payload

    # -- control routes --------------------------------------------------------
    def _serve_control(self, environ: dict[str, Any], route: str) -> WsgiResponse:
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(_parse_qs(environ.get("QUERY_STRING", "")))
        raw = _buffer_body(environ)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _json(400, {"error": "control request body must be JSON"})
        name, _slash, rest = route.partition("/")
        self.ensure_installed(name)
        try:
            if name in self._controls:
                status, result = self._controls[name](method, data, {"path": rest, **query})
            else:
                status, result = self._builtin_control(name, rest, method, data, query)
        except BadControlRequest as err:
            return _json(400, {"error": str(err)})
        return _json(status, result)

    def _builtin_control(self, name: str, rest: str, method: str, data: Any,
                         query: dict[str, str]) -> tuple[int, Any]:
        state = self.state
        if name == "health":
            return 200, {"status": "ok", "time_scale": state.clock.scale,
                         "clock_offset_seconds": state.clock.offset,
                         "extensions": sorted(set(self._controls) | set(self._pending))}
        if name == "reset" and method == "POST":
            self.reset()
            return 200, {"reset": True}
        if name == "config":
            if method == "POST":
                if not isinstance(data, dict) or set(data) - {"time_scale"}:
                    raise BadControlRequest("config accepts only {\"time_scale\": <number>}")
                if "time_scale" in data:
                    state.clock.set_scale(data["time_scale"])
            return 200, {"time_scale": state.clock.scale}
        if name == "clock":
            return 200, self._clock_control(rest, method, data)
        if name == "faults":
            if method == "POST":
                return 201, state.add_fault(data).to_json()
            if method == "DELETE":
                with state.lock:
                    if rest:
                        state.faults[:] = [r for r in state.faults if str(r.id) != rest]
                    else:
                        state.faults.clear()
                return 200, {"faults": [r.to_json() for r in state.faults]}
            return 200, {"faults": [r.to_json() for r in state.faults]}
        if name == "requests":
            if method == "DELETE":
                with state.lock:
                    state.log.clear()
                return 200, {"requests": []}
            since = query.get("since", "0")
            if not since.isdigit():
                raise BadControlRequest("'since' must be a request sequence number")
            return 200, {"requests": state.requests_since(int(since))}
        raise BadControlRequest(
            f"unknown control route {method} /_sandbox/{name}; known: health, reset, config, "
            f"clock, faults, requests, {', '.join(sorted(set(self._controls) | set(self._pending)))}"
        )

    def _clock_control(self, rest: str, method: str, data: Any) -> dict[str, Any]:
        """GET /_sandbox/clock, POST /_sandbox/clock/advance {"seconds": N}."""
        clock = self.state.clock
        if rest == "advance" and method == "POST":
            if not isinstance(data, dict) or set(data) != {"seconds"}:
                raise BadControlRequest(
                    f"clock/advance expects exactly {{\"seconds\": <emulated seconds>}}, got {data!r}")
            clock.advance(data["seconds"])
            return clock.to_json()
        if rest == "" and method == "GET":
            return clock.to_json()
        raise BadControlRequest(f"unknown route {method} /_sandbox/clock/{rest}; known: "
                                "GET /_sandbox/clock, POST /_sandbox/clock/advance {\"seconds\": N}")


def _make_moto_app() -> Callable[..., Iterable[bytes]]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    def create_app(service: Any) -> Any:
        app = create_backend_app(service)
        # Let NotImplementedError reach the middleware instead of becoming an HTML 500
        # (which botocore would retry several times).
        app.config["PROPAGATE_EXCEPTIONS"] = True
        app.debug = False
        return app

    return DomainDispatcherApplication(create_app)


@functools.cache
def _moto_services() -> frozenset[str]:
    from moto.backend_index import backend_url_patterns

    return frozenset(name for name, _pattern in backend_url_patterns) | {"lambda", "cloudwatch"}


def _not_implemented(call: protocol.ResolvedCall) -> WsgiResponse:
    # 501 is not in botocore's retryable statuses, so the caller fails at once.
    return protocol.error_response(
        call.protocol, "NotImplemented",
        f"The sandbox does not emulate {call.service}.{call.operation}", 501,
        sender_fault=False,
    )


def _serialise(call: protocol.ResolvedCall, result: Any) -> WsgiResponse:
    if isinstance(result, tuple):  # a raw (status, headers, body) from a handler
        return result
    status = 200
    if call.operation_model is not None:
        status = call.operation_model.http.get("responseCode", 200)
    if call.protocol == "smithy-rpc-v2-cbor":
        body = protocol.to_cbor(result)
        return status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"),
                        ("Content-Length", str(len(body)))], body
    body = protocol.to_json(result)
    ctype = "application/json" if call.protocol == "rest-json" else "application/x-amz-json-1.0"
    return status, [("Content-Type", ctype), ("Content-Length", str(len(body)))], body


def _buffer_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    # botocore gzips large request bodies (e.g. PutMetricData >= 10 KiB), as AWS accepts.
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        body = gzip.decompress(body)
        del environ["HTTP_CONTENT_ENCODING"]
        environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _parse_qs(qs: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(qs)


def _error_code(headers: list[tuple[str, str]], body: bytes) -> str | None:
    for key, value in headers:
        if key.lower() in ("x-amzn-errortype", "x-amzn-query-error"):
            return value.split(":")[0].split(";")[0]
    text = body[:2000].decode("utf-8", "replace")
    if "<Code>" in text:
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
    if '"__type"' in text:
        try:
            return json.loads(text)["__type"].split("#")[-1]
        except (ValueError, KeyError):
            return None
    return None


def _json(status: int, payload: Any) -> WsgiResponse:
    body = json.dumps(payload, default=str).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}


def _respond(start_response: Callable[..., Any], status: int, headers: list[tuple[str, str]],
             body: bytes) -> list[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
    return [body]


def build_app(extensions: dict[str, str] | None = None, lazy: bool = True) -> Sandbox:
    sandbox = Sandbox()
    sandbox.install_extensions(extensions, lazy=lazy)
    return sandbox
