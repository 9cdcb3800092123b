"""A fake AWX API (the parts the awx.awx modules of playbooks/awx_configure.yml call), for tests.

There is no AWX server here (AWX is not a pip-installable server), so tests run the real
playbook with the real awx.awx 24.6.1 modules against this stand-in. It serves 127.0.0.1 only,
from a thread, and keeps the objects it is given in memory:

- GET list views with exact-match filters (``?name=``, ``organization=``, ``or__id=``...),
  pagination (``count``, ``next``), detail views; POST create; PATCH update; DELETE;
- association sub-lists (credentials, notification_templates_*, labels, instance_groups...):
  GET, POST ``{id}`` and POST ``{id, disassociate: true}``;
- ``job_templates/<id>/survey_spec/`` (GET/POST/DELETE) with AWX's validation of a spec;
- ``schedules`` with AWX's rrule checks and its survey check of ``extra_data``;
- SCM projects: a project update that succeeds at once and lists the playbooks the test says
  the repository has; a job template whose playbook is not among them is refused, as AWX does;
- notification templates: AWX fills in the notification type's defaulted fields and masks
  secrets on read, so a client that sends a partial configuration is seen to differ;
- ``tokens`` (Basic auth, then Bearer), ``ping``, ``config``, ``me``, ``/api/``.

Only what AWX does that a client can observe through these calls is modelled; there are no
jobs. The survey rules (``survey_element_errors``, ``launch_variables``) are ports of AWX 24's
``awx/main/models/mixins.py`` so that tests can also ask "what would AWX pass to the playbook".
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

from dateutil import rrule as dateutil_rrule

PRODUCT = "AWX"
VERSION = "24.6.1"
PAGE_SIZE = 25
ENCRYPTED = "$encrypted$"

_NOTIFY = ("notification_templates_started", "notification_templates_success", "notification_templates_error")

# resource -> (type, writable fields with AWX's defaults, required fields, uniqueness, sub-lists)
RESOURCES = {
    "organizations": ("organization", {
        "name": None, "description": "", "max_hosts": 0, "custom_virtualenv": None, "default_environment": None,
    }, ("name",), (("name",),), _NOTIFY + ("notification_templates_approvals", "instance_groups", "galaxy_credentials")),
    "execution_environments": ("execution_environment", {
        "name": None, "description": "", "organization": None, "image": "", "managed": False, "credential": None,
        "pull": "",
    }, ("name", "image"), (("name",),), ()),
    "credential_types": ("credential_type", {
        "name": None, "description": "", "kind": "cloud", "namespace": None, "managed": False, "inputs": {},
        "injectors": {},
    }, ("name",), (("name",),), ()),
    "credentials": ("credential", {
        "name": None, "description": "", "organization": None, "credential_type": None, "managed": False, "inputs": {},
    }, ("name", "credential_type"), (("organization", "credential_type", "name"),), ()),
    "projects": ("project", {
        "name": None, "description": "", "local_path": "", "scm_type": "", "scm_url": "", "scm_branch": "",
        "scm_refspec": "", "scm_clean": False, "scm_track_submodules": False, "scm_delete_on_update": False,
        "credential": None, "timeout": 0, "organization": None, "scm_update_on_launch": False,
        "scm_update_cache_timeout": 0, "allow_override": False, "custom_virtualenv": None,
        "default_environment": None, "signature_validation_credential": None,
    }, ("name", "organization"), (("organization", "name"),), _NOTIFY),
    "inventories": ("inventory", {
        "name": None, "description": "", "organization": None, "kind": "", "host_filter": None, "variables": "",
        "prevent_instance_group_fallback": False,
    }, ("name", "organization"), (("organization", "name"),), ("instance_groups", "input_inventories")),
    "inventory_sources": ("inventory_source", {
        "name": None, "description": "", "source": "", "source_path": "", "source_vars": "", "scm_branch": "",
        "credential": None, "enabled_var": "", "enabled_value": "", "host_filter": "", "overwrite": False,
        "overwrite_vars": False, "custom_virtualenv": None, "timeout": 0, "verbosity": 1, "limit": "",
        "inventory": None, "update_on_launch": False, "update_cache_timeout": 0, "source_project": None,
        "execution_environment": None,
    }, ("name", "inventory", "source"), (("inventory", "name"),), _NOTIFY),
    "job_templates": ("job_template", {
        "name": None, "description": "", "job_type": "run", "inventory": None, "project": None, "playbook": "",
        "scm_branch": "", "forks": 0, "limit": "", "verbosity": 0, "extra_vars": "", "job_tags": "",
        "force_handlers": False, "skip_tags": "", "start_at_task": "", "timeout": 0, "use_fact_cache": False,
        "organization": None, "execution_environment": None, "host_config_key": "",
        "ask_scm_branch_on_launch": False, "ask_diff_mode_on_launch": False, "ask_variables_on_launch": False,
        "ask_limit_on_launch": False, "ask_tags_on_launch": False, "ask_skip_tags_on_launch": False,
        "ask_job_type_on_launch": False, "ask_verbosity_on_launch": False, "ask_inventory_on_launch": False,
        "ask_credential_on_launch": False, "ask_execution_environment_on_launch": False,
        "ask_labels_on_launch": False, "ask_forks_on_launch": False, "ask_job_slice_count_on_launch": False,
        "ask_timeout_on_launch": False, "ask_instance_groups_on_launch": False, "survey_enabled": False,
        "become_enabled": False, "diff_mode": False, "allow_simultaneous": False, "custom_virtualenv": None,
        "job_slice_count": 1, "webhook_service": "", "webhook_credential": None,
        "prevent_instance_group_fallback": False,
    }, ("name", "project", "playbook"), (("organization", "name"),),
        ("credentials", "labels", "instance_groups") + _NOTIFY),
    "schedules": ("schedule", {
        "name": None, "description": "", "unified_job_template": None, "rrule": "", "extra_data": {},
        "inventory": None, "scm_branch": None, "job_type": None, "job_tags": None, "skip_tags": None, "limit": None,
        "diff_mode": None, "verbosity": None, "execution_environment": None, "forks": None,
        "job_slice_count": None, "timeout": None, "enabled": True,
    }, ("name", "unified_job_template", "rrule"), (("unified_job_template", "name"),),
        ("credentials", "labels", "instance_groups")),
    "notification_templates": ("notification_template", {
        "name": None, "description": "", "organization": None, "notification_type": None,
        "notification_configuration": {}, "messages": None,
    }, ("name", "organization", "notification_type"), (("organization", "name"),), ()),
    "labels": ("label", {"name": None, "organization": None}, ("name", "organization"), (("organization", "name"),), ()),
    "instance_groups": ("instance_group", {"name": None}, ("name",), (("name",),), ()),
    "project_updates": ("project_update", {}, (), (), ()),
}
# Which resource a foreign key or an association sub-list points at.
_FK = {"organization": "organizations", "project": "projects", "inventory": "inventories",
       "credential_type": "credential_types", "credential": "credentials", "source_project": "projects",
       "default_environment": "execution_environments", "execution_environment": "execution_environments",
       "webhook_credential": "credentials", "signature_validation_credential": "credentials",
       "unified_job_template": "unified_job_templates"}
_SUBLIST = {"credentials": "credentials", "galaxy_credentials": "credentials", "labels": "labels",
            "instance_groups": "instance_groups", "input_inventories": "inventories",
            **{n: "notification_templates" for n in _NOTIFY + ("notification_templates_approvals",)}}
_UJT = ("job_templates", "projects", "inventory_sources")
# What AWX's notification backends default (awx/main/notifications/*_backend.py init_parameters).
_NOTIFICATION_PARAMETERS = {
    "awssns": {"aws_region": ("string", ""), "aws_access_key_id": ("string", ""),
               "aws_secret_access_key": ("password", ""), "aws_session_token": ("password", ""),
               "sns_topic_arn": ("string", "")},
    "webhook": {"url": ("string", None), "http_method": ("string", "POST"), "disable_ssl_verification": ("bool", False),
                "username": ("string", ""), "password": ("password", ""), "headers": ("object", None)},
}
_BUILTIN_CREDENTIAL_TYPES = (
    {"name": "Machine", "kind": "ssh", "namespace": "ssh", "managed": True},
    {"name": "Source Control", "kind": "scm", "namespace": "scm", "managed": True},
    {"name": "Amazon Web Services", "kind": "cloud", "namespace": "aws", "managed": True,
     "inputs": {"fields": [{"id": "username", "label": "Access Key", "type": "string"},
                           {"id": "password", "label": "Secret Key", "type": "string", "secret": True},
                           {"id": "security_token", "label": "STS Token", "type": "string", "secret": True}],
                "required": ["username", "password"]}},
)
_SURVEY_TYPES = {"text": (str,), "textarea": (str,), "password": (str,), "multiplechoice": (str,),
                 "multiselect": (str,), "integer": (int,), "float": (float, int)}


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(status, body)
        self.status, self.body = status, body


# ---------------------------------------------------------------------------------------------
# AWX's survey rules (ports of awx/main/models/mixins.py and awx/api/views JobTemplateSurveySpec).
# ---------------------------------------------------------------------------------------------

def _choices(element):
    choices = copy.copy(element.get("choices", []))
    if isinstance(choices, str):
        choices = [c for c in choices.splitlines() if c.strip() != ""]
    return choices


def survey_element_errors(element, data, validate_required=True):
    """AWX's SurveyJobTemplateMixin._survey_element_validation for one question."""
    errors = []
    var = element["variable"]
    if var not in data and element["required"]:
        if validate_required:
            errors.append("'%s' value missing" % var)
    elif element["type"] in ("textarea", "text", "password"):
        if var in data:
            value = data[var]
            if not isinstance(value, str):
                return ["Value %s for '%s' expected to be a string." % (value, var)]
            if element.get("min") not in ("", None) and len(value) < int(element["min"]):
                errors.append("'%s' value %s is too small (length is %s must be at least %s)."
                              % (var, value, len(value), element["min"]))
            if element.get("max") not in ("", None) and len(value) > int(element["max"]):
                errors.append("'%s' value %s is too large (must be no more than %s)." % (var, value, element["max"]))
    elif element["type"] == "integer":
        if var in data:
            value = data[var]
            if isinstance(value, bool) or not isinstance(value, int):  # AWX's own test: a bool is no integer
                return ["Value %s for '%s' expected to be an integer." % (value, var)]
            if element.get("min") not in ("", None) and value < int(element["min"]):
                errors.append("'%s' value %s is too small (must be at least %s)." % (var, value, element["min"]))
            if element.get("max") not in ("", None) and value > int(element["max"]):
                errors.append("'%s' value %s is too large (must be no more than %s)." % (var, value, element["max"]))
    elif element["type"] == "multiselect":
        if var in data:
            if not isinstance(data[var], list):
                errors.append("'%s' value is expected to be a list." % var)
            else:
                for value in data[var]:
                    if value not in _choices(element):
                        errors.append("Value %s for '%s' expected to be one of %s." % (value, var, _choices(element)))
    elif element["type"] == "multiplechoice":
        if var in data and data[var] not in _choices(element):
            errors.append("Value %s for '%s' expected to be one of %s." % (data[var], var, _choices(element)))
    return errors


def accept_variables(job_template, spec, data):
    """AWX's _accept_or_ignore_variables: (accepted, rejected, errors) for launch-time variables."""
    extra = dict(data)
    accepted, rejected, errors = {}, {}, {}
    if job_template.get("survey_enabled") and spec:
        survey_errors = []
        for element in spec.get("spec", []):
            key = element.get("variable")
            element_errors = survey_element_errors(element, data)
            if element_errors:
                survey_errors += element_errors
                if key in extra:
                    rejected[key] = extra.pop(key)
            elif key in extra:
                accepted[key] = extra.pop(key)
        if survey_errors:
            errors["variables_needed_to_start"] = survey_errors
    if job_template.get("ask_variables_on_launch"):
        accepted.update(extra)
        extra = {}
    if extra:
        rejected.update(extra)
        errors["extra_vars"] = ["Variables {0} are not allowed on launch. Check the Prompt on Launch setting on the "
                                "Job Template to include Extra Variables.".format(", ".join(extra))]
    return accepted, rejected, errors


def launch_variables(spec, answers, job_template=None):
    """The extra variables AWX gives the playbook for these answers (survey defaults, then answers).

    Raises ValueError with AWX's messages when AWX would refuse to launch.
    """
    job_template = {"survey_enabled": True, **(job_template or {})}
    accepted, _rejected, errors = accept_variables(job_template, spec, answers)
    if errors:
        raise ValueError(errors)
    extra = {}
    for element in spec.get("spec", []):
        default = element.get("default")
        # A default is used only when it passes the question's own rules (a multiselect's
        # newline-separated default never does: AWX's UI sends it as the list the user kept).
        if default is not None and not survey_element_errors(element, {element["variable"]: default}):
            extra[element["variable"]] = default
    extra.update(accepted)
    return extra


def survey_spec_errors(new_spec):
    """AWX's JobTemplateSurveySpec._validate_spec_data (the checks that apply without passwords)."""
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if field not in new_spec:
            return "Field '%s' is missing from survey spec." % field
        if not isinstance(new_spec[field], kind):
            return "Expected %s for field '%s', received %s type." % (kind.__name__, field, type(new_spec[field]).__name__)
    if not new_spec["spec"]:
        return "'spec' doesn't contain any items."
    seen = set()
    for idx, item in enumerate(new_spec["spec"]):
        if not isinstance(item, dict):
            return "Survey question %s is not a json object." % idx
        for field in ("type", "question_name", "variable", "required"):
            if field not in item:
                return "'%s' missing from survey question %s" % (field, idx)
            if not isinstance(item[field], bool if field == "required" else str):
                return "'%s' in survey question %s expected to be %s." % (
                    field, idx, "boolean" if field == "required" else "string")
        if item["variable"] in seen:
            return "'variable' '%s' duplicated in survey question %s." % (item["variable"], idx)
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in _SURVEY_TYPES:
            return "'%s' in survey question %s is not one of '%s' allowed question types." % (
                qtype, idx, ", ".join(_SURVEY_TYPES))
        if "default" in item and item["default"] != "" and not isinstance(item["default"], _SURVEY_TYPES[qtype]):
            return "Default value %s in survey question %s expected to be %s." % (item["default"], idx, qtype)
        for key in ("min", "max"):
            if key in item and item[key] is not None and not isinstance(item[key], int):
                return "The %s limit in survey question %s expected to be integer." % (key, idx)
        if qtype in ("multiselect", "multiplechoice"):
            if "choices" not in item:
                return "Survey question %s of type %s must specify choices." % (idx, qtype)
            if isinstance(item["choices"], str):
                item["choices"] = "\n".join(c for c in item["choices"].splitlines() if c.strip() != "")
            if "default" in item:
                if isinstance(item["default"], str):
                    item["default"] = "\n".join(c for c in item["default"].splitlines() if c.strip() != "")
                    defaults = item["default"].splitlines()
                else:
                    defaults = item["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    return "Multiple Choice (Single Select) can only have one default value."
                if any(d not in item["choices"] for d in defaults):
                    return "Default choice must be answered from the choices listed."
        if qtype == "password":
            return "password questions are not modelled by this fake"
    return None


def rrule_errors(value):
    """AWX's ScheduleSerializer.validate_rrule."""
    errors = []
    dtstarts = re.findall(r".*?(DTSTART(;[^:]+)?\:[0-9]+T[0-9]+Z?)", value)
    if not dtstarts:
        errors.append("Valid DTSTART required in rrule. Value should start with: DTSTART:YYYYMMDDTHHMMSSZ")
    if re.findall(r".*?(DTSTART:[0-9]+T[0-9]+) ", value):
        errors.append("DTSTART cannot be a naive datetime.  Specify ;TZINFO= or YYYYMMDDTHHMMSSZZ.")
    if len(dtstarts) > 1:
        errors.append("Multiple DTSTART is not supported.")
    if "rrule:" not in value.lower():
        errors.append("One or more rule required in rrule.")
    for rule in re.findall(r".*?(RULE\:[^\s]*)", value):
        if "interval" not in rule.lower():
            errors.append("INTERVAL required in rrule: %s" % rule)
        elif "secondly" in rule.lower():
            errors.append("SECONDLY is not supported: %s" % rule)
        if re.match(r".*?BYDAY[\:\=][0-9]+[a-zA-Z]{2}", rule):
            errors.append("BYDAY with numeric prefix not supported: %s" % rule)
    try:
        dateutil_rrule.rrulestr(value.replace(" RRULE:", "\nRRULE:"), forceset=True)
    except (ValueError, TypeError) as err:
        errors.append("rrule parsing failed validation: %s" % err)
    return errors


# ---------------------------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------------------------

class FakeAWX:
    """An in-memory AWX on 127.0.0.1: ``with FakeAWX(...) as awx: ... awx.url ...``."""

    def __init__(self, username="admin", password=None, playbooks=()):
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.playbooks = sorted(playbooks)  # what a project update finds in the repository
        self.objects = {name: {} for name in RESOURCES}
        self.links = {}  # (resource, id, sublist) -> [ids]
        self.surveys = {}  # job template id -> spec
        self.tokens = {}  # id -> token
        self.requests = []  # (method, path, status)
        self._next_id = 1
        self._lock = threading.RLock()
        for fields in _BUILTIN_CREDENTIAL_TYPES:
            self.add("credential_types", dict(fields))
        self._server = None
        self._thread = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        handler = type("Handler", (_Handler,), {"awx": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-awx", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    # -- test helpers ---------------------------------------------------------------------------
    def add(self, resource, fields):
        """Create an object as an admin would in the UI (no request logged)."""
        with self._lock:
            return self._create(resource, fields, validate=False)

    def find(self, resource, **match):
        """Objects of a resource whose fields equal `match`, in id order."""
        with self._lock:
            return [copy.deepcopy(o) for _i, o in sorted(self.objects[resource].items())
                    if all(o.get(k) == v for k, v in match.items())]

    def one(self, resource, **match):
        found = self.find(resource, **match)
        assert len(found) == 1, (resource, match, found)
        return found[0]

    def linked(self, resource, obj_id, sublist):
        with self._lock:
            return list(self.links.get((resource, obj_id, sublist), []))

    def survey(self, obj_id):
        with self._lock:
            return copy.deepcopy(self.surveys.get(obj_id, {}))

    def writes(self, since=0):
        """Requests that changed something (token handling left out), from index `since`."""
        return [(m, p, s) for m, p, s in self.requests[since:]
                if m in ("POST", "PATCH", "PUT", "DELETE") and "/tokens/" not in p]

    # -- objects --------------------------------------------------------------------------------
    def _id(self):
        self._next_id += 1
        return self._next_id

    def _create(self, resource, fields, validate=True):
        _type, defaults, required, _unique, _subs = RESOURCES[resource]
        obj = copy.deepcopy(defaults)
        obj.update({k: v for k, v in fields.items() if k in defaults or not validate})
        if validate:
            missing = [f for f in required if obj.get(f) in (None, "")]
            if missing:
                raise ApiError(400, {f: ["This field is required."] for f in missing})
            self._validate(resource, obj, None)
        obj["id"] = self._id()
        self.objects[resource][obj["id"]] = obj
        return obj

    def _validate(self, resource, obj, old):
        for field, target in _FK.items():
            if obj.get(field) is not None and field in RESOURCES[resource][1]:
                if self._get(target, obj[field]) is None:
                    raise ApiError(400, {field: ['Invalid pk "%s" - object does not exist.' % obj[field]]})
        for fields in RESOURCES[resource][3]:
            for other in self.objects[resource].values():
                if other is not old and all(other.get(f) == obj.get(f) for f in fields):
                    raise ApiError(400, {"__all__": ["%s with this %s already exists." % (
                        RESOURCES[resource][0], " and ".join(f.title() for f in fields))]})
        check = getattr(self, "_check_" + resource, None)
        if check:
            check(obj, old)

    def _check_inventory_sources(self, obj, _old):
        if obj["source"] == "scm" and obj.get("source_project") is None:
            raise ApiError(400, {"source_project": ["Project required for scm type sources."]})

    def _check_job_templates(self, obj, _old):
        project = self.objects["projects"][obj["project"]]
        if obj["playbook"] not in project.get("playbook_files", []):
            raise ApiError(400, {"playbook": ["Playbook not found for project."]})
        if obj.get("inventory") is None and not obj.get("ask_inventory_on_launch"):
            raise ApiError(400, {"inventory": ["Job Template must provide 'inventory' or allow prompting for it."]})

    def _check_schedules(self, obj, _old):
        errors = rrule_errors(obj["rrule"] or "")
        if errors:
            raise ApiError(400, {"rrule": errors})
        target = self._get("unified_job_templates", obj["unified_job_template"])
        if target is not None and target.get("_resource") == "job_templates":
            template = self.objects["job_templates"][target["id"]]
            # As ScheduleSerializer: every survey rule applies, required answers included.
            _accepted, _rejected, errors = accept_variables(template, self.surveys.get(template["id"], {}),
                                                            obj.get("extra_data") or {})
            if "extra_vars" in errors:
                errors["extra_data"] = errors.pop("extra_vars")
            if errors:
                raise ApiError(400, errors)

    def _check_notification_templates(self, obj, _old):
        params = _NOTIFICATION_PARAMETERS.get(obj["notification_type"])
        if params is None:
            raise ApiError(400, {"notification_type": ["not modelled by this fake: %s" % obj["notification_type"]]})
        config = obj["notification_configuration"] = dict(obj.get("notification_configuration") or {})
        missing = []
        for field, (_kind, default) in params.items():
            if field not in config:
                if default is None:
                    missing.append(field)
                else:
                    config[field] = default
        if missing:
            raise ApiError(400, ["Missing required fields for Notification Configuration: %s." % missing])

    def _get(self, resource, obj_id):
        try:
            obj_id = int(obj_id)
        except (TypeError, ValueError):
            return None
        if resource == "unified_job_templates":
            for name in _UJT:
                if obj_id in self.objects[name]:
                    return dict(self.objects[name][obj_id], _resource=name)
            return None
        return self.objects[resource].get(obj_id)

    def _scm_update(self, project):
        """A project update that succeeds at once: the repository's playbooks become known."""
        update = self._create("project_updates", {}, validate=False)
        update.update(project=project["id"], status="successful", failed=False, finished=_now(),
                      scm_revision="%040x" % project["id"])
        project.update(scm_revision=update["scm_revision"], status="successful", playbook_files=list(self.playbooks),
                       last_update=update["id"])
        return update

    def render(self, resource, obj, current_update=None):
        """An object as AWX's API shows it."""
        kind, defaults, _required, _unique, subs = RESOURCES[resource]
        url = "/api/v2/%s/%d/" % (resource, obj["id"])
        out = {"id": obj["id"], "type": kind, "url": url, "created": obj.get("created", ""), "modified": ""}
        related = {s: url + s + "/" for s in subs}
        if resource == "job_templates":
            related.update(survey_spec=url + "survey_spec/", schedules=url + "schedules/")
        if resource == "projects":
            related.update(update=url + "update/", playbooks=url + "playbooks/")
        out["related"] = related
        summary = {}
        if resource == "projects" and obj.get("last_update"):
            summary["last_update"] = {"id": obj["last_update"], "status": "successful"}
        if current_update is not None:
            summary["current_update"] = {"id": current_update["id"], "status": current_update["status"]}
        if resource == "credentials":
            summary["credential_type"] = {"id": obj["credential_type"],
                                          "name": self.objects["credential_types"][obj["credential_type"]]["name"]}
        out["summary_fields"] = summary
        for field in (defaults or obj):
            if field in obj and not field.startswith("_"):
                out[field] = copy.deepcopy(obj[field])
        if resource == "projects":
            out.update(scm_revision=obj.get("scm_revision", ""), status=obj.get("status", "never updated"))
        if resource == "project_updates":
            out.update({k: obj[k] for k in ("project", "status", "failed", "finished", "scm_revision") if k in obj})
        if resource == "credentials":
            secret = [f["id"] for f in self.objects["credential_types"][obj["credential_type"]].get("inputs", {})
                      .get("fields", []) if f.get("secret")]
            out["inputs"] = {k: (ENCRYPTED if k in secret and v else v) for k, v in obj.get("inputs", {}).items()}
        if resource == "notification_templates":
            params = _NOTIFICATION_PARAMETERS.get(obj["notification_type"], {})
            out["notification_configuration"] = {
                k: (ENCRYPTED if params.get(k, ("",))[0] == "password" and v else v)
                for k, v in obj["notification_configuration"].items()}
        return out

    # -- requests -------------------------------------------------------------------------------
    def handle(self, method, path, query, body, auth):
        with self._lock:
            return self._route(method, path, query, body, auth)

    def _route(self, method, path, query, body, auth):
        if not path.startswith("/api/"):
            raise ApiError(404, {"detail": "Not found."})
        if path in ("/api/", "/api/v2/") and method == "GET":
            return 200, {"description": "AWX REST API", "current_version": "/api/v2/", "available_versions": {"v2": "/api/v2/"}}
        parts = [p for p in path[len("/api/v2/"):].split("/") if p]
        if parts == ["ping"]:
            return 200, {"ha": False, "version": VERSION, "active_node": "awx-fake", "install_uuid": "fake",
                         "instances": [{"node": "awx-fake", "node_type": "hybrid", "capacity": 1}]}
        if parts[:1] == ["tokens"]:
            return self._tokens(method, parts, auth)
        self._authorise(auth)
        if parts == ["config"]:
            return 200, {"version": VERSION, "time_zone": "UTC", "license_info": {"license_type": "open"}}
        if parts == ["me"]:
            return 200, {"count": 1, "next": None, "previous": None,
                         "results": [{"id": 1, "type": "user", "username": self.username, "is_superuser": True}]}
        resource = parts[0] if parts else ""
        if resource not in RESOURCES and resource != "unified_job_templates":
            raise ApiError(404, {"detail": "Not found."})
        if len(parts) == 1:
            if method == "GET":
                return 200, self._list(resource, query)
            if method == "POST" and resource != "unified_job_templates":
                return self._post(resource, body)
            raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})
        obj = self._get(resource, parts[1])
        if obj is None:
            raise ApiError(404, {"detail": "Not found."})
        if resource == "unified_job_templates":
            resource, obj = obj["_resource"], self.objects[obj["_resource"]][obj["id"]]
        if len(parts) == 2:
            if method == "GET":
                return 200, self.render(resource, obj)
            if method == "PATCH":
                return self._patch(resource, obj, body)
            if method == "DELETE":
                del self.objects[resource][obj["id"]]
                return 204, None
            raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})
        sub = parts[2]
        if resource == "job_templates" and sub == "survey_spec":
            return self._survey(method, obj, body)
        if resource == "projects" and sub == "playbooks" and method == "GET":
            return 200, list(obj.get("playbook_files", []))
        if sub in RESOURCES[resource][4]:
            return self._sublist(method, resource, obj, sub, body, query)
        raise ApiError(404, {"detail": "Not found."})

    def _authorise(self, auth):
        kind, value = _scheme(auth)
        if kind == "Bearer" and value in self.tokens.values():
            return
        if kind == "Basic" and self._basic_ok(value):
            return
        raise ApiError(401, {"detail": "Authentication credentials were not provided."})

    def _basic_ok(self, value):
        try:
            user, password = (base64.b64decode(value).decode().split(":", 1) + [""])[:2]
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.username) and secrets.compare_digest(password, self.password)

    def _tokens(self, method, parts, auth):
        kind, value = _scheme(auth)
        if not (kind == "Basic" and self._basic_ok(value)):
            raise ApiError(401, {"detail": "Invalid username/password."})
        if method == "POST" and len(parts) == 1:
            token_id, token = self._id(), secrets.token_urlsafe(24)
            self.tokens[token_id] = token
            return 201, {"id": token_id, "type": "o_auth2_access_token", "token": token, "scope": "write",
                         "url": "/api/v2/tokens/%d/" % token_id}
        if method == "DELETE" and len(parts) == 2 and self.tokens.pop(int(parts[1]), None) is not None:
            return 204, None
        raise ApiError(404, {"detail": "Not found."})

    def _matches(self, obj, query):
        ors = {k[len("or__"):]: v for k, v in query.items() if k.startswith("or__")}
        plain = {k: v for k, v in query.items() if not k.startswith("or__") and k not in ("page", "page_size", "order_by")}

        def equal(field, wanted):
            value = obj.get(field)
            if wanted in ("None", "null"):
                return value is None
            return str(value).lower() == wanted.lower() if isinstance(value, bool) else str(value) == wanted

        if any(field not in obj for field in list(plain) + list(ors)):
            return False
        return all(equal(f, v) for f, v in plain.items()) and (not ors or any(equal(f, v) for f, v in ors.items()))

    def _list(self, resource, query):
        if resource == "unified_job_templates":
            rows = [(o["id"], name, o) for name in _UJT for o in self.objects[name].values()]
        else:
            rows = [(o["id"], resource, o) for o in self.objects[resource].values()]
        hits = [self.render(name, o) for _i, name, o in sorted(rows, key=lambda r: r[0]) if self._matches(o, query)]
        page = int(query.get("page", 1))
        size = int(query.get("page_size", PAGE_SIZE))
        chunk = hits[(page - 1) * size:page * size]
        more = page * size < len(hits)
        rest = "&".join("%s=%s" % (k, v) for k, v in query.items() if k != "page")
        return {"count": len(hits), "previous": None,
                "next": ("/api/v2/%s/?page=%d%s" % (resource, page + 1, "&" + rest if rest else "")) if more else None,
                "results": chunk}

    def _post(self, resource, body):
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "JSON object expected."})
        obj = self._create(resource, body)
        obj["created"] = _now()
        update = self._scm_update(obj) if resource == "projects" and obj.get("scm_type") else None
        return 201, self.render(resource, obj, current_update=update)

    def _patch(self, resource, obj, body):
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "JSON object expected."})
        defaults = RESOURCES[resource][1]
        changed = dict(obj)
        changed.update({k: v for k, v in body.items() if k in defaults})
        self._validate(resource, changed, obj)
        scm_changed = resource == "projects" and any(
            changed.get(k) != obj.get(k) for k in ("scm_type", "scm_url", "scm_branch", "scm_refspec", "credential"))
        obj.clear()
        obj.update(changed)
        update = self._scm_update(obj) if scm_changed and obj.get("scm_type") else None
        return 200, self.render(resource, obj, current_update=update)

    def _survey(self, method, obj, body):
        if method == "GET":
            return 200, copy.deepcopy(self.surveys.get(obj["id"], {}))
        if method == "POST":
            spec = copy.deepcopy(body)
            problem = survey_spec_errors(spec)
            if problem:
                raise ApiError(400, {"error": problem})
            self.surveys[obj["id"]] = spec
            return 200, {}
        if method == "DELETE":
            self.surveys.pop(obj["id"], None)
            return 200, {}
        raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})

    def _sublist(self, method, resource, obj, sub, body, query):
        key = (resource, obj["id"], sub)
        target = _SUBLIST[sub]
        if method == "GET":
            rows = [self.objects[target][i] for i in self.links.get(key, []) if i in self.objects[target]]
            hits = [self.render(target, o) for o in rows if self._matches(o, query)]
            return 200, {"count": len(hits), "next": None, "previous": None, "results": hits}
        if method == "POST":
            other = self._get(target, (body or {}).get("id"))
            if other is None:
                raise ApiError(400, {"msg": "Related object not found."})
            ids = self.links.setdefault(key, [])
            if (body or {}).get("disassociate"):
                if other["id"] in ids:
                    ids.remove(other["id"])
            elif other["id"] not in ids:
                ids.append(other["id"])
            return 204, None
        raise ApiError(405, {"detail": 'Method "%s" not allowed.' % method})


def _scheme(auth):
    """('Bearer', token) or ('Basic', base64) of an Authorization header."""
    words = (auth or "").split(" ", 1)
    return words[0], words[1] if len(words) > 1 else ""


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Handler(BaseHTTPRequestHandler):
    awx: FakeAWX = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        """Quiet: the fake keeps its own request log."""

    def _serve(self):
        parsed = urlparse(self.path)
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, payload = 400, {"detail": "JSON parse error."}
        else:
            try:
                status, payload = self.awx.handle(self.command, parsed.path, query, body, self.headers.get("Authorization"))
            except ApiError as err:
                status, payload = err.status, err.body
        self.awx.requests.append((self.command, parsed.path, status))
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-API-Product-Name", PRODUCT)
        self.send_header("X-API-Product-Version", VERSION)
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve
