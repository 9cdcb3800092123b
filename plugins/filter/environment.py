# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for choosing an environment and guarding a run (used by every entry playbook).

- env_problem: is `-e env=NAME` a group of the inventory in use, with one host whose facts say
  they are NAME's and have the shapes the playbooks read (lists where lists are read)? ('' when
  it is, else a message naming the input and the fix);
- run_gate: may this run change anything (confirmation), and what to say when it may not;
- trigger_overrides: the shared trigger table with an environment's per-field changes;
- playbook_command: the command that runs a playbook again the way this run was started, for
  the commands a run prints (confirm, resume, swap back) to work as printed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import sys

from ansible.errors import AnsibleFilterError

_ENV_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
_RESERVED_GROUPS = ("all", "ungrouped")
# ansible-playbook options whose value must be repeated for a printed command to reach the
# same inventory and vault as this run.
_KEPT_OPTIONS = ("-i", "--inventory", "--inventory-file", "--vault-id", "--vault-password-file",
                 "--vault-pass-file")
# Options that take a value (so that value is not taken for the playbook).
_VALUE_OPTIONS = ("-e", "--extra-vars", "-l", "--limit", "-t", "--tags", "--skip-tags", "-f",
                  "--forks", "-u", "--user", "-c", "--connection", "-M", "--module-path",
                  "--start-at-task", "--private-key", "-T", "--timeout")


# Inventory facts every entry playbook reads as lists: what each item must be. A string given
# where a list is read (-e rollback_cloudformation_stacks=NAME) would reach a loop or a module
# as something else.
_LIST_FACTS = (
    ("rollback_cloudformation_stacks", "stack names", lambda item: isinstance(item, str) and item.strip() != ""),
    ("rollback_amplify_prefixes", "sub-domain prefixes ('' for the apex)", lambda item: isinstance(item, str)),
    ("rollback_dynamodb_tables", "tables ({name, swap_targets: [...], ...})",
     lambda item: isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"] != ""
     and isinstance(item.get("swap_targets") or [], list)),
)


def known_envs(groups):
    """Environment groups of an inventory: every group but all/ungrouped that has hosts."""
    return sorted(g for g, hosts in dict(groups).items() if g not in _RESERVED_GROUPS and hosts)


def env_problem(env, groups, hostvars=None, sources=None):
    """'' when `env` names exactly one environment of the inventory in use, else why not."""
    envs = known_envs(groups)
    where = ", ".join(str(s) for s in (sources or [])) or "(none)"
    listing = ", ".join(envs) if envs else "none"
    if env is None or str(env).strip() == "":
        return ("No environment given: pass -e env=NAME with NAME one of %s (the groups of "
                "inventory %s). Nothing was changed." % (listing, where))
    env = str(env)
    if not _ENV_RE.match(env) or env in _RESERVED_GROUPS:
        return ("env=%r is not an environment name (a group name such as production). Known "
                "environments: %s. Nothing was changed." % (env, listing))
    if env not in envs:
        if not envs:
            fix = ("this inventory holds no environment; pass -i with the collection's "
                   "inventories/ directory (or your copy of it) or point the AWX job template "
                   "at an inventory that has a group %s" % env)
        else:
            fix = ("it holds %s; pass -e env= with one of those, or use the inventory that "
                   "holds %s (-i, or the AWX job template's inventory)" % (listing, env))
        return "Environment %s is not in the inventory in use (%s): %s. Nothing was changed." % (
            env, where, fix)
    hosts = list(dict(groups)[env])
    if len(hosts) != 1:
        return ("Environment group %s has %d hosts (%s); it must have exactly one "
                "local-connection host. Nothing was changed." % (env, len(hosts), ", ".join(hosts)))
    if hostvars is not None:
        declared = hostvars[hosts[0]].get("rollback_env")
        if declared != env:
            return ("Group %s's facts say rollback_env=%r, not %r: its group_vars belong to "
                    "another environment. Fix group_vars/%s.yml of inventory %s. Nothing was "
                    "changed." % (env, declared, env, env, where))
        for name, what, good in _LIST_FACTS:
            problem = _list_fact_problem(env, name, hostvars[hosts[0]].get(name), what, good, where)
            if problem:
                return problem
    return ""


def _list_fact_problem(env, name, value, what, good, where):
    """'' when the fact is unset or a list of good items, else what is wrong and how to write it."""
    if value is None:
        return ""
    fix = ("Write it as a YAML list in group_vars/%s.yml of inventory %s, or give it as JSON: "
           "-e '{\"%s\": [...]}'. Nothing was changed." % (env, where, name))
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        shown = json.dumps(value if isinstance(value, str) else str(value))[:120]
        example = ""
        if isinstance(value, str) and name == "rollback_cloudformation_stacks":
            example = " (%s: %s)" % (name, json.dumps([w.strip() for w in value.split(",") if w.strip()]))
        return ("%s of environment %s must be a list of %s, got %s %s%s. %s"
                % (name, env, what, "the string" if isinstance(value, str) else "a " + type(value).__name__,
                   shown, example, fix))
    for index, item in enumerate(value):
        if not good(item):
            return ("%s[%d] of environment %s is %s: %s must be a list of %s. %s"
                    % (name, index, env, json.dumps(item, default=str)[:120], name, what, fix))
    return ""


def run_gate(env, confirm, requires_confirmation, check_mode, command=""):
    """Whether a run may change AWS; a dict {apply, preview, msg}.

    `requires_confirmation` comes from the inventory (-e strings like "false" are accepted);
    `--check` needs no confirmation; without it a run that needs one runs as a preview.
    """
    needs = bool_input(requires_confirmation, "rollback_env_requires_confirmation")
    check = bool_input(check_mode, "ansible_check_mode")
    confirm = "" if confirm is None else str(confirm)
    if check:
        return {"apply": False, "preview": True, "confirmed": False,
                "notice": "Check mode: every step shows what it would do; nothing is changed.",
                "msg": "Check mode: nothing was changed."}
    if not needs or confirm == env:
        said = "Confirmed for %s: changes are made." % env if needs else (
            "%s needs no confirmation: changes are made." % env)
        return {"apply": True, "preview": False, "confirmed": needs, "notice": said, "msg": said}
    told = "" if not confirm else " (confirm=%r does not match env=%s)" % (confirm, env)
    return {"apply": False, "preview": True, "confirmed": False,
            "notice": ("PREVIEW: %s needs -e confirm=%s%s. Every step below runs in check mode "
                       "and changes nothing." % (env, env, told)),
            "msg": ("%s needs confirmation%s: nothing was changed. The steps above ran in check "
                    "mode and show what this run would do. To run it: %s"
                    % (env, told, command or "add -e confirm=%s" % env))}


def trigger_overrides(triggers, overrides):
    """The trigger table with per-trigger field changes ({name: {field: value}}) applied."""
    if not isinstance(triggers, list):
        raise AnsibleFilterError("rollback_triggers must be a list of triggers, got %s"
                                 % type(triggers).__name__)
    if not overrides:
        return triggers
    if not isinstance(overrides, dict):
        raise AnsibleFilterError("rollback_trigger_overrides must be a mapping of trigger name to "
                                 "fields, e.g. {'5XX error rate': {threshold: 2}}; got %s"
                                 % type(overrides).__name__)
    names = [t.get("name") for t in triggers if isinstance(t, dict)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise AnsibleFilterError("rollback_trigger_overrides names unknown trigger(s) %s; the "
                                 "table has %s" % (", ".join(unknown), ", ".join(map(str, names))))
    out = []
    for trigger in triggers:
        changes = overrides.get(trigger.get("name")) if isinstance(trigger, dict) else None
        if changes is None:
            out.append(trigger)
            continue
        if not isinstance(changes, dict):
            raise AnsibleFilterError("rollback_trigger_overrides[%r] must be a mapping of fields"
                                     % trigger.get("name"))
        merged = copy.deepcopy(trigger)
        merged.update(changes)
        out.append(merged)
    return out


def playbook_command(extra_vars, playbook=None, keep_extra_vars=False, argv=None):
    """`ansible-playbook ...` that runs `playbook` (default: this run's) like this run.

    Keeps how the playbook was named (a path relative to the working directory, an absolute
    path or an FQCN such as propie.rollback.dynamodb_rollback) and the inventory and vault
    options. The other options go, unless `keep_extra_vars` (then every option of this run is
    kept); `extra_vars` (a dict) are appended as -e key=value. A different `playbook` (a bare
    name such as dynamodb_rollback) is named beside this run's playbook the same way.
    """
    argv = list(sys.argv if argv is None else argv)
    kept, positional, everything = [], [], []
    i = 1
    while i < len(argv):
        arg = argv[i]
        takes_value = arg in _KEPT_OPTIONS or arg in _VALUE_OPTIONS
        value = [argv[i + 1]] if takes_value and i + 1 < len(argv) else []
        if arg in _KEPT_OPTIONS or arg.split("=", 1)[0] in _KEPT_OPTIONS or (
                arg.startswith("-i") and not arg.startswith("--") and len(arg) > 2):
            kept += [arg] + value
        elif not arg.startswith("-"):
            positional.append(arg)
        if arg in ("--check", "-C"):
            pass  # a printed command is for the real run
        elif arg.startswith("-") or positional[-1:] != [arg]:
            everything += [arg] + value
        i += 1 + len(value)
    current = positional[-1] if positional else None
    target = current or "propie.rollback." + (playbook or "rollback")
    if playbook and current and _stem(current) != playbook:
        if _is_fqcn(current):
            target = current.rsplit(".", 1)[0] + "." + playbook
        else:
            target = os.path.join(os.path.dirname(current), playbook + ".yml")
    words = [_program(argv[0] if argv else "ansible-playbook"), target]
    if keep_extra_vars and target == current:
        words += _without_extra_vars(everything, extra_vars or {})
    else:
        words += kept
    for key, val in (extra_vars or {}).items():
        words += ["-e", "%s=%s" % (key, val)]
    return " ".join(shlex.quote(str(w)) for w in words)


def _without_extra_vars(words, names):
    """words without the `-e key=value` pairs that set one of `names` (they are given anew)."""
    out, i = [], 0
    while i < len(words):
        if words[i] in ("-e", "--extra-vars") and i + 1 < len(words) and words[i + 1].split("=", 1)[0] in names:
            i += 2
            continue
        out.append(words[i])
        i += 1
    return out


def _stem(playbook):
    base = os.path.basename(playbook)
    return base.rsplit(".", 1)[0] if base.endswith((".yml", ".yaml")) else base.split(".")[-1]


def _is_fqcn(playbook):
    return not playbook.endswith((".yml", ".yaml")) and "/" not in playbook and playbook.count(".") >= 2


def _program(argv0):
    """ansible-playbook when that is what PATH finds, else the path this run was started by."""
    name = os.path.basename(argv0) or "ansible-playbook"
    found = shutil.which(name)
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return name
    return argv0 if os.path.isabs(argv0) or os.sep in argv0 else name


def bool_input(value, name):
    """An -e / survey value read as a boolean ('yes', 'false', 1...); anything else names `name`."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise AnsibleFilterError("%s must be true or false, got %r" % (name, value))


class FilterModule:
    def filters(self):
        return {
            "env_problem": env_problem,
            "run_gate": run_gate,
            "trigger_overrides": trigger_overrides,
            "playbook_command": playbook_command,
        }
