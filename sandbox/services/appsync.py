"""AppSync data sources (absent from moto 5.2.5) and predictable GraphQL API ids.

Data sources live on moto's GraphqlAPI object, so deleting the API or resetting the
sandbox removes them with it. Shapes, defaults and error codes follow the AppSync API
reference: an unknown API or data source is NotFoundException (404); a duplicate or
malformed name, an unknown type or a config that does not match the type is
BadRequestException (400).

Seeding: moto 5.2.5 does not honour its `_custom_id_` tag for AppSync (its GraphqlAPI
always draws a uuid), so CreateGraphqlApi here honours a tag `sandbox:id` (or moto's
`_custom_id_`) as the new API's id: `tags={"sandbox:id": "propiesandbox0000000000api"}`. The
tag is kept on the API like any other tag. The id must look like AWS's (26 lowercase letters
or digits): botocore checks ARN lengths client-side, so a shorter id would make tagging
calls on the API fail later.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from moto.appsync import models as appsync_models
from moto.appsync.exceptions import GraphqlAPINotFound

from sandbox.api import Call, Sandbox, ServiceError, require_moto

# The moto release the patches in this file (`_patch_moto`) were written against; checked at
# sandbox start (sandbox.api.check_moto_versions) and again before patching.
MOTO_VERSION = "5.2.5"
# The one module-global of the patches: guards the data sources kept on moto's API objects.
_LOCK = threading.Lock()

ID_TAGS = ("sandbox:id", "_custom_id_")
_API_ID = re.compile(r"^[a-z0-9]{26}$")
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
TYPES = {
    # type -> the config member it requires (None: no config at all)
    "AWS_LAMBDA": "lambdaConfig",
    "AMAZON_DYNAMODB": "dynamodbConfig",
    "AMAZON_ELASTICSEARCH": "elasticsearchConfig",
    "AMAZON_OPENSEARCH_SERVICE": "openSearchServiceConfig",
    "HTTP": "httpConfig",
    "RELATIONAL_DATABASE": "relationalDatabaseConfig",
    "AMAZON_EVENTBRIDGE": "eventBridgeConfig",
    "AMAZON_BEDROCK_RUNTIME": None,
    "NONE": None,
}
CONFIG_KEYS = tuple(sorted({c for c in TYPES.values() if c}))


# ---------------------------------------------------------------------------
# Predictable GraphQL API ids
# ---------------------------------------------------------------------------

def _wanted_id(tags: dict[str, str] | None) -> str | None:
    for key in ID_TAGS:
        if tags and tags.get(key):
            return tags[key]
    return None


def create_graphql_api(call: Call) -> None:
    """Reject a bad or taken `sandbox:id` before moto creates anything."""
    wanted = _wanted_id(call.params.get("tags"))
    if wanted is None:
        return None
    if not _API_ID.match(wanted):
        raise ServiceError("BadRequestException",
                           f"Invalid sandbox:id tag {wanted!r}: an AppSync API id is 26 lowercase "
                           "letters or digits, e.g. 'propiesandbox0000000000api'.")
    backend = appsync_models.appsync_backends[call.account_id][call.region]
    if wanted in backend.graphql_apis:
        raise ServiceError("BadRequestException", f"A GraphQL API with id {wanted} already exists.")
    return None


_original_create = appsync_models.AppSyncBackend.create_graphql_api


def _create_graphql_api(self: appsync_models.AppSyncBackend, *args: Any,
                        **kwargs: Any) -> appsync_models.GraphqlAPI:
    api = _original_create(self, *args, **kwargs)
    wanted = _wanted_id(kwargs.get("tags"))
    if wanted is None or not _API_ID.match(wanted):
        return api
    with _LOCK:
        if wanted in self.graphql_apis:
            return api
        old_arn = api.arn
        tags = self.tagger.get_tag_dict_for_resource(old_arn)
        del self.graphql_apis[api.api_id]
        api.api_id = wanted
        api.arn = old_arn.rsplit("/", 1)[0] + "/" + wanted
        self.graphql_apis[wanted] = api
        self.tagger.delete_all_tags_for_resource(old_arn)
        self.tagger.tag_resource(api.arn, self.tagger.convert_dict_to_tags_input(tags))
    return api


# ---------------------------------------------------------------------------
# Data sources
# ---------------------------------------------------------------------------

def _api(call: Call) -> appsync_models.GraphqlAPI:
    backend = appsync_models.appsync_backends[call.account_id][call.region]
    try:
        return backend.get_graphql_api(call.params["apiId"])
    except GraphqlAPINotFound as err:
        raise ServiceError("NotFoundException", err.message, 404) from None


def _sources(api: appsync_models.GraphqlAPI) -> dict[str, dict[str, Any]]:
    return api.__dict__.setdefault("sandbox_data_sources", {})


def _build(api: appsync_models.GraphqlAPI, params: dict[str, Any]) -> dict[str, Any]:
    """A data source as GetDataSource returns it, after AWS's checks."""
    name, kind = params["name"], params["type"]
    if not _NAME.match(name):
        raise ServiceError("BadRequestException",
                           "Invalid data source name given, must match pattern "
                           "[_A-Za-z][_0-9A-Za-z]*")
    if kind not in TYPES:
        raise ServiceError("BadRequestException",
                           f"Invalid data source type {kind}; valid types: {', '.join(TYPES)}.")
    needed = TYPES[kind]
    given = [key for key in CONFIG_KEYS if params.get(key) is not None]
    if needed and needed not in given:
        raise ServiceError("BadRequestException",
                           f"A data source of type {kind} requires {needed}.")
    extra = [key for key in given if key != needed]
    if extra:
        raise ServiceError("BadRequestException",
                           f"{', '.join(extra)} cannot be used with a data source of type {kind}.")
    source: dict[str, Any] = {"dataSourceArn": f"{api.arn}/datasources/{name}", "name": name,
                              "type": kind}
    for key in ("description", "serviceRoleArn", "metricsConfig"):
        if params.get(key) is not None:
            source[key] = params[key]
    if needed:
        config = dict(params[needed])
        if needed == "dynamodbConfig":
            config.setdefault("useCallerCredentials", False)
            config.setdefault("versioned", False)
        source[needed] = config
    return source


def create_data_source(call: Call) -> dict[str, Any]:
    api = _api(call)
    with _LOCK:
        sources = _sources(api)
        if call.params["name"] in sources:
            raise ServiceError("BadRequestException",
                               f"Data source with name {call.params['name']} already exists")
        source = _build(api, call.params)
        sources[source["name"]] = source
    return {"dataSource": dict(source)}


def _existing(api: appsync_models.GraphqlAPI, name: str) -> dict[str, Any]:
    source = _sources(api).get(name)
    if source is None:
        raise ServiceError("NotFoundException", f"No data source found named {name}.", 404)
    return source


def get_data_source(call: Call) -> dict[str, Any]:
    api = _api(call)
    with _LOCK:
        return {"dataSource": dict(_existing(api, call.params["name"]))}


def update_data_source(call: Call) -> dict[str, Any]:
    api = _api(call)
    with _LOCK:
        _existing(api, call.params["name"])
        # An update replaces the whole definition, as on AWS.
        source = _build(api, call.params)
        _sources(api)[source["name"]] = source
    return {"dataSource": dict(source)}


def delete_data_source(call: Call) -> dict[str, Any]:
    api = _api(call)
    with _LOCK:
        _existing(api, call.params["name"])
        del _sources(api)[call.params["name"]]
    return {}


def list_data_sources(call: Call) -> dict[str, Any]:
    api = _api(call)
    size = call.params.get("maxResults") or 25
    if not 0 < size <= 25:
        raise ServiceError("BadRequestException", "maxResults must be between 1 and 25.")
    token = call.params.get("nextToken") or "0"
    if not token.isdigit():
        raise ServiceError("BadRequestException", "Invalid nextToken.")
    offset = int(token)
    with _LOCK:
        sources = [dict(s) for s in _sources(api).values()]
    out: dict[str, Any] = {"dataSources": sources[offset:offset + size]}
    if offset + size < len(sources):
        out["nextToken"] = str(offset + size)
    return out


def _patch_moto() -> None:
    """Every change this module makes to moto's classes (once per process)."""
    require_moto(MOTO_VERSION, __file__)
    if getattr(appsync_models.AppSyncBackend, "_sandbox_patched", False):
        return
    appsync_models.AppSyncBackend.create_graphql_api = _create_graphql_api  # type: ignore[method-assign]
    appsync_models.AppSyncBackend._sandbox_patched = True  # type: ignore[attr-defined]


def install(sandbox: Sandbox) -> None:
    _patch_moto()
    sandbox.handle("appsync", "CreateGraphqlApi")(create_graphql_api)
    sandbox.handle("appsync", "CreateDataSource")(create_data_source)
    sandbox.handle("appsync", "GetDataSource")(get_data_source)
    sandbox.handle("appsync", "UpdateDataSource")(update_data_source)
    sandbox.handle("appsync", "DeleteDataSource")(delete_data_source)
    sandbox.handle("appsync", "ListDataSources")(list_data_sources)
