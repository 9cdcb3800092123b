"""Wire-level helpers: which service/operation a request is, and AWS-shaped errors.

Everything here is driven by botocore's service models, so a request is judged by the
same definitions the SDK uses to build it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import botocore.session
import cbor2
from botocore.model import OperationModel, ServiceModel

# Operation-name prefixes that never change state; anything else counts as mutating.
READ_ONLY_PREFIXES = (
    "Get", "List", "Describe", "BatchGet", "Query", "Scan", "Head", "Search", "Lookup",
    "Estimate", "Validate", "Test", "Detect",
)

_session = botocore.session.get_session()


@functools.cache
def service_model(name: str) -> ServiceModel:
    return _session.get_service_model(name)


@functools.cache
def _signing_name_index() -> dict[str, str]:
    """Map SigV4 signing names (the credential scope) to botocore service names."""
    index: dict[str, str] = {}
    for name in _session.get_available_services():
        try:
            meta = _session.get_service_data(name)["metadata"]
        except Exception:  # pragma: no cover - a broken model is not ours to fix
            continue
        signing = meta.get("signingName") or meta.get("endpointPrefix") or name
        # Prefer the service whose own name equals its signing name.
        if signing not in index or name == signing:
            index[signing] = name
    return index


def service_from_signing_name(signing_name: str) -> str | None:
    return _signing_name_index().get(signing_name)


def credential_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access_key, region, signing_name) from a SigV4 Authorization header, or None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1]
        key, _date, region, signing, _terminator = scope.removeprefix("Credential=").split("/")
    except (IndexError, ValueError):
        return None
    return key, region, signing


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_ONLY_PREFIXES)


def wire_protocol(model: ServiceModel, content_type: str) -> str:
    """The protocol a request actually used (botocore may pick any of `protocols`)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    supported = model.metadata.get("protocols", [model.protocol])
    if ctype == "application/cbor":
        return "smithy-rpc-v2-cbor"
    if ctype.startswith("application/x-amz-json"):
        return "json"
    if ctype == "application/x-www-form-urlencoded":
        return "query"
    for proto in ("rest-json", "rest-xml", "json", "query"):
        if proto in supported:
            return proto
    return model.protocol


@dataclass
class ResolvedCall:
    service: str
    operation: str
    region: str
    protocol: str
    operation_model: OperationModel | None
    uri_params: dict[str, Any]


def resolve(environ: dict[str, Any]) -> ResolvedCall | None:
    """Identify the AWS service and operation of a WSGI request, or None if unsigned."""
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    scope = credential_scope(environ)
    if scope is None:
        return None
    region, signing = scope[1], scope[2]
    service = service_from_signing_name(signing)
    if service is None:
        return None
    model = service_model(service)
    protocol = wire_protocol(model, environ.get("CONTENT_TYPE", ""))
    operation_model = None
    uri_params: dict[str, Any] = {}
    if protocol == "smithy-rpc-v2-cbor":
        # Path is /service/<ServiceName>/operation/<Operation>
        name = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
        if name in model.operation_names:
            operation_model = model.operation_model(name)
    else:
        try:
            operation_model, uri_params = get_service_router(service).match(Request(environ))
        except Exception:  # noqa: BLE001 - werkzeug NotFound or unsupported protocol
            operation_model = None
    op_name = operation_model.name if operation_model is not None else "Unknown"
    return ResolvedCall(service, op_name, region, protocol, operation_model, uri_params)


def parse_params(environ: dict[str, Any], call: ResolvedCall, body: bytes) -> dict[str, Any]:
    """Parse a request into botocore-shaped input parameters using moto's parsers."""
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import Request

    if call.protocol == "smithy-rpc-v2-cbor":
        # One CBOR map of the input members (timestamps: tag 1, decoded to aware datetimes).
        params = cbor2.loads(body) if body else {}
        if not isinstance(params, dict):
            raise ValueError("a smithy-rpc-v2-cbor request body must be a CBOR map")
        return params
    request = Request(environ)
    parser_cls = PROTOCOL_PARSERS[call.protocol]
    parser = parser_cls(call.operation_model, map_type=dict)
    return parser.parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": body,
            "url_path": request.path,
            "url_params": call.uri_params,
        }
    )


# ---------------------------------------------------------------------------
# Error bodies, one per protocol, so that botocore reads the error code.
# ---------------------------------------------------------------------------

def error_response(
    protocol: str, code: str, message: str, status: int = 400, sender_fault: bool = True
) -> tuple[int, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "query":
        fault = "Sender" if sender_fault else "Receiver"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<ErrorResponse><Error><Type>{fault}</Type><Code>{_xml(code)}</Code>"
            f"<Message>{_xml(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{_xml(code)}</Code><Message>{_xml(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    elif protocol == "smithy-rpc-v2-cbor":
        body = to_cbor({"__type": code, "message": message})
        headers += [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    elif protocol == "rest-json":
        body = json.dumps({"message": message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    else:  # json
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [
            ("Content-Type", "application/x-amz-json-1.0"),
            # awsQueryCompatible services (CloudWatch, SQS) read the code from here.
            ("x-amzn-query-error", f"{code};{'Sender' if sender_fault else 'Receiver'}"),
        ]
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_json(value: Any) -> bytes:
    """JSON for rest-json/json responses: timestamps as epoch seconds, as AWS sends them."""

    def default(obj: Any) -> Any:
        if isinstance(obj, dt.datetime):
            if obj.tzinfo is None:
                obj = obj.replace(tzinfo=dt.timezone.utc)
            return obj.timestamp()
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    return json.dumps(value, default=default).encode()


def to_cbor(value: Any) -> bytes:
    """CBOR for smithy-rpc-v2-cbor responses (cbor2): timestamps as tag 1 epoch seconds, as
    the protocol requires (naive datetimes, as moto keeps them, are UTC)."""
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=dt.timezone.utc)
