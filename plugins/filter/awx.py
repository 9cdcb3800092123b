# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the AWX/Tower configuration data (playbooks/vars/awx.yml) into what the
awx.awx modules of playbooks/awx_configure.yml take, and the AWX-facing result of a run.

- awx_config: the environments AWX offers, the job templates with their surveys, the weekly
  DR-drill schedules and the notification templates. Each survey question's type, choices,
  limits and default come from what the playbook itself accepts, not from the data file:
  environments from the inventory (each one passes env_problem, as select_env.yml checks),
  components from rollback_request's list, the shift decision from the traffic_shift role's
  argument spec, defaults from the inventory's shared defaults. The data file only says which
  template asks which question, and in which words.
- awx_rrule: an AWX schedule rule (DTSTART with a time zone, weekly RRULE with INTERVAL).
- run_status: the status an entry playbook publishes with set_stats for AWX.
"""

from __future__ import annotations

import datetime
import os
import re
import zoneinfo

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.filter.environment import env_problem, known_envs
from ansible_collections.propie.rollback.plugins.filter.run import COMPONENTS, rollback_request
from ansible_collections.propie.rollback.plugins.module_utils.rollback_id import new_rollback_id

_COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# Longest env name env_problem accepts (and so the longest confirmation worth typing).
_ENV_MAX = 63
# Every incident id is as long as a freshly minted one (rb-YYYYMMDDTHHMMSSZ-xxxxxx).
_ID_LENGTH = len(new_rollback_id(0))
# The notification events AWX knows for a job template.
_EVENTS = ("started", "success", "error")
# AWX's AWS SNS notification type; its key fields stay empty: AWX's own AWS identity publishes
# (instance profile, IRSA), so no secret is written anywhere.
_SNS_FIELDS = ("aws_region", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "sns_topic_arn")
# Keys a job template entry of the data file may have.
_TEMPLATE_KEYS = {"name", "playbook", "description", "survey", "ask_job_type", "concurrent", "notify", "timeout"}


def _role_choices(role, option):
    """The choices a role's argument spec allows for `option` ('' left out: it is the default)."""
    path = os.path.join(_COLLECTION, "roles", role, "meta", "argument_specs.yml")
    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    try:
        choices = spec["argument_specs"]["main"]["options"][option]["choices"]
    except (KeyError, TypeError) as err:
        raise AnsibleFilterError("role %s has no choices for %s in %s" % (role, option, path)) from err
    return [str(c) for c in choices if str(c) != ""]


class _Context:
    """What the questions are built from: the environments and the inventory's shared defaults."""

    def __init__(self, envs, defaults):
        self.envs = envs
        self.defaults = defaults


def _q_env(ctx):
    return {"type": "multiplechoice", "required": True, "choices": list(ctx.envs)}


def _q_confirm(_ctx):
    # Optional text with a minimum length: AWX passes nothing when it is left empty (with min 0
    # it would pass ""), so the playbook sees no confirmation and previews.
    return {"type": "text", "required": False, "min": 1, "max": _ENV_MAX}


def _q_components(ctx):
    default = rollback_request(ctx.defaults.get("rollback_components", ",".join(COMPONENTS)), "")["components"]
    # AWX stores a multiselect default as newline-separated text; the UI sends the answer as a list.
    return {"type": "multiselect", "required": False, "choices": list(COMPONENTS), "default": "\n".join(default)}


def _q_restore_point(_ctx):
    return {"type": "text", "required": False, "min": 1, "max": 64}


def _q_incident_id(_ctx):
    return {"type": "text", "required": False, "min": _ID_LENGTH, "max": _ID_LENGTH}


def _q_break_lock(_ctx):
    return {"type": "text", "required": False, "min": 1, "max": 128}


def _q_watch_minutes(ctx):
    default = ctx.defaults.get("rollback_watch_minutes", 30)
    try:
        default = int(default)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError("rollback_watch_minutes must be a whole number, got %r" % (default,)) from err
    return {"type": "integer", "required": False, "min": 1, "max": 1440, "default": default}


def _q_shift_decision(_ctx):
    return {"type": "multiplechoice", "required": False, "choices": _role_choices("traffic_shift", "traffic_shift_decision")}


def _q_drill_id(_ctx):
    # dr-YYYYMMDDTHHMMSSZ-xxxxxx: as long as an incident id.
    return {"type": "text", "required": False, "min": _ID_LENGTH, "max": _ID_LENGTH}


def _q_drill_full(_ctx):
    # A boolean as AWX can ask for one: the playbook reads it with `| bool`.
    return {"type": "multiplechoice", "required": False, "choices": ["false", "true"], "default": "false"}


# Every variable a survey may ask for, with how the playbooks validate it.
QUESTIONS = {
    "env": _q_env,
    "confirm": _q_confirm,
    "components": _q_components,
    "restore_point": _q_restore_point,
    "incident_id": _q_incident_id,
    "break_lock": _q_break_lock,
    "watch_minutes": _q_watch_minutes,
    "shift_decision": _q_shift_decision,
    "drill_full": _q_drill_full,
    "drill_id": _q_drill_id,
}
# AWX's order of the keys of a question (the API returns what it was given).
_QUESTION_KEYS = ("question_name", "question_description", "required", "type", "variable", "min", "max",
                  "default", "choices")


def awx_envs(groups, hostvars=None, excluded=None):
    """The environments AWX offers: the inventory's env groups, less `excluded`, each usable."""
    excluded = list(excluded or [])
    envs = known_envs(groups)
    unknown = sorted(set(excluded) - set(envs))
    if unknown:
        raise AnsibleFilterError("awx_envs_excluded names %s, which the inventory does not hold (it has %s)"
                                 % (", ".join(unknown), ", ".join(envs) or "none"))
    chosen = [e for e in envs if e not in excluded]
    if not chosen:
        raise AnsibleFilterError("no environment left for AWX: the inventory has %s and awx_envs_excluded "
                                 "takes them all" % (", ".join(envs) or "none"))
    for env in chosen:
        problem = env_problem(env, groups, hostvars)
        if problem:
            raise AnsibleFilterError(problem)
    return chosen


def awx_survey(variables, questions, envs, defaults=None, name="", description=""):
    """An AWX survey spec asking for `variables`, worded by `questions` ({variable: {...}})."""
    ctx = _Context(list(envs), defaults if defaults is not None else {})
    spec = []
    for variable in variables:
        if variable not in QUESTIONS:
            raise AnsibleFilterError("survey variable %r is not one the playbooks validate; known: %s"
                                     % (variable, ", ".join(QUESTIONS)))
        words = dict((questions or {}).get(variable) or {})
        if not words.get("question_name"):
            raise AnsibleFilterError("awx_survey_questions has no question_name for %s" % variable)
        question = {"question_name": str(words["question_name"]),
                    "question_description": str(words.get("question_description", "")).strip(),
                    "variable": variable}
        question.update(QUESTIONS[variable](ctx))
        if "required" in words:
            question["required"] = bool(words["required"])
        spec.append(dict((k, question[k]) for k in _QUESTION_KEYS if k in question))
    return {"name": name, "description": description, "spec": spec}


def awx_rrule(day, time, timezone, start):
    """'DTSTART;TZID=<tz>:<start>T<hhmm>00 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=<day>'."""
    day = str(day).upper()
    if day not in _DAYS:
        raise AnsibleFilterError("drill day %r must be one of %s" % (day, ", ".join(_DAYS)))
    match = _TIME_RE.match(str(time))
    if not match:
        raise AnsibleFilterError("drill time %r must be HH:MM (24 h)" % (time,))
    try:
        zoneinfo.ZoneInfo(str(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise AnsibleFilterError("drill time zone %r is not a time zone name such as Europe/Dublin" % (timezone,)) from err
    try:
        first = datetime.date.fromisoformat(str(start))
    except ValueError as err:
        raise AnsibleFilterError("drill start %r must be a date YYYY-MM-DD" % (start,)) from err
    # A fixed DTSTART keeps the rule the same on every run of the configuration (idempotent).
    return "DTSTART;TZID=%s:%sT%s%s00 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=%s" % (
        timezone, first.strftime("%Y%m%d"), match.group(1), match.group(2), day)


def _notification(template, envs, hostvars, groups):
    env = str(template.get("env", ""))
    if env not in envs:
        raise AnsibleFilterError("notification template %s: env %r is not one AWX offers (%s)"
                                 % (template.get("name"), env, ", ".join(envs)))
    facts = hostvars[groups[env][0]]
    topic = (facts.get("rollback_sns_topic_arns") or {}).get(template.get("topic", "alerts"), "")
    if not topic:
        raise AnsibleFilterError("notification template %s: %s has no rollback_sns_topic_arns.%s"
                                 % (template.get("name"), env, template.get("topic", "alerts")))
    config = dict.fromkeys(_SNS_FIELDS, "")
    config.update(aws_region=str(facts.get("rollback_aws_region", "")), sns_topic_arn=str(topic))
    return {"name": str(template["name"]), "description": str(template.get("description", "")),
            "notification_type": "awssns", "notification_configuration": config}


def _job_template(template, questions, envs, defaults, notifications):
    unknown = sorted(set(template) - _TEMPLATE_KEYS)
    if unknown:
        raise AnsibleFilterError("job template %s: unknown keys %s" % (template.get("name"), ", ".join(unknown)))
    for key in ("name", "playbook"):
        if not template.get(key):
            raise AnsibleFilterError("job template %r needs %s" % (template.get("name"), key))
    notify = dict(template.get("notify") or {})
    bad = sorted(set(notify) - set(_EVENTS))
    if bad:
        raise AnsibleFilterError("job template %s: notify events %s; AWX knows %s"
                                 % (template["name"], ", ".join(bad), ", ".join(_EVENTS)))
    survey = list(template.get("survey") or [])
    if "env" not in survey:
        raise AnsibleFilterError("job template %s: its survey must ask for env (every entry playbook needs it)"
                                 % template["name"])
    description = str(template.get("description", "")).strip()
    out = {
        "name": str(template["name"]),
        "description": description,
        "playbook": str(template["playbook"]),
        "job_type": "run",
        "survey_enabled": True,
        "survey_spec": awx_survey(survey, questions, envs, defaults, name=str(template["name"]),
                                  description=description),
        # Only survey answers reach the playbook: AWX refuses any other extra variable.
        "ask_variables_on_launch": False,
        # `check` is --check: the plan (or preview) only.
        "ask_job_type_on_launch": bool(template.get("ask_job_type", False)),
        "allow_simultaneous": bool(template.get("concurrent", False)),
        "timeout": int(template.get("timeout", 0)),
    }
    for event in _EVENTS:
        out["notification_templates_" + event] = [n["name"] for n in notifications] if notify.get(event) else []
    return out


def _schedules(schedule, templates, envs, defaults):
    schedule = dict(schedule or {})
    target = str(schedule.get("job_template", ""))
    names = [t["name"] for t in templates]
    if target not in names:
        raise AnsibleFilterError("awx_drill_schedule.job_template %r is none of the job templates (%s)"
                                 % (target, ", ".join(names)))
    per_env = dict(schedule.get("per_env") or {})
    unknown = sorted(set(per_env) - set(envs))
    if unknown:
        raise AnsibleFilterError("awx_drill_schedule.per_env names %s, not offered to AWX (%s)"
                                 % (", ".join(unknown), ", ".join(envs)))
    out = []
    for env in envs:
        when = dict(schedule, **(per_env.get(env) or {}))
        timezone = when.get("timezone") or defaults.get("rollback_time_zone") or "UTC"
        out.append({
            "name": "%s %s" % (schedule.get("name_prefix", target), env),
            "description": "Weekly DR drill of %s (%s %s %s)." % (env, when.get("day"), when.get("time"), timezone),
            "unified_job_template": target,
            "rrule": awx_rrule(when.get("day", "MO"), when.get("time", "03:00"), timezone, when.get("start", "")),
            # The drill's survey answers: the env alone (a scratch-table drill, no confirmation needed).
            "extra_data": {"env": env},
            "enabled": bool(when.get("enabled", True)),
        })
    return out


def awx_config(groups, hostvars, templates, questions, schedule=None, excluded=None, notifications=None):
    """Everything playbooks/awx_configure.yml creates, from the inventory and the data file.

    Returns {envs, job_templates, schedules, notification_templates}; a problem in the data
    (an unknown survey variable, env or day) fails before anything is changed in AWX.
    """
    envs = awx_envs(groups, hostvars, excluded)
    # Shared defaults (group_vars/all) as any environment's host sees them.
    defaults = hostvars[groups[envs[0]][0]]
    notes = [_notification(n, envs, hostvars, groups) for n in (notifications or [])]
    names = [t.get("name") for t in templates or []]
    if len(set(names)) != len(names):
        raise AnsibleFilterError("job template names repeat: %s" % ", ".join(map(str, names)))
    jts = [_job_template(t, questions, envs, defaults, notes) for t in templates or []]
    return {"envs": envs, "job_templates": jts, "notification_templates": notes,
            "schedules": _schedules(schedule, jts, envs, defaults) if schedule else []}


_STATUS = {"running": "completed", "abort": "aborted"}


def run_status(outcome, gate=None, check_mode=False):
    """How an entry playbook's run ended, for AWX (set_stats).

    `outcome` is what the run reached ('' or none when it failed before any result); `gate` is
    the run's rollback_gate (tasks/gate.yml). held/aborted shifts say so; then check mode
    (--check, AWX job type check) and a preview (confirmation needed) say nothing changed.
    """
    outcome = "" if outcome is None else str(outcome)
    if not outcome:
        return "failed"
    if outcome in ("held", "abort"):
        return _STATUS.get(outcome, outcome)
    if check_mode:
        return "check"
    if isinstance(gate, dict) and gate.get("preview"):
        return "preview"
    return _STATUS.get(outcome, outcome)


class FilterModule:
    def filters(self):
        return {"awx_config": awx_config, "awx_envs": awx_envs, "awx_survey": awx_survey,
                "awx_rrule": awx_rrule, "run_status": run_status}
