# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The traffic shift's decisions, as pure functions (no AWS calls), for the traffic_shift role
through the filters of plugins/filter/shift.py:

- the weighted layer's settings: what is wrong with them, and the settled layer (defaults);
- the live weights from the Route 53 reads, and the records a step writes, in a safe order;
- where the shift stands (the live weights and the Amplify domain mapping) and which steps are
  left (the plan, where a re-run resumes);
- one step's record and the outcome of its gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

# The weighted layer's defaults (roles/traffic_shift/meta/argument_specs.yml documents them).
DEFAULT_STEPS = (10, 50, 100)
LAYER_DEFAULTS = {
    "type": "CNAME",
    "ttl": 60,
    "steps": list(DEFAULT_STEPS),
    "blue_identifier": "blue",
    "green_identifier": "green",
}
# Amplify only: the domain mapping moves all traffic at once.
AMPLIFY_ONLY_STEPS = (100,)

# Gate decisions (propie.rollback.rollback_triggers) and what the shift does on each.
HOLD_DECISIONS = ("alert", "inconclusive")
ABORT_DECISION = "rollback"
# What a step accepted by `continue` records in place of a gate.
CONTINUED_GATE = {"decision": "healthy", "reasons": ["continued by decision"]}
GATE_KEYS = ("decision", "reasons", "triggers", "evaluations", "window_end")


def _given(settings, key, default=None):
    """settings[key], or `default` when the key is absent or null (a null takes the default)."""
    value = settings.get(key)
    return default if value is None else value


def _host(value) -> str:
    """A host name as compared: lower case, without one trailing dot; '' for none."""
    text = "" if value is None else str(value).lower()
    return text[:-1] if text.endswith(".") else text


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def amplify_host_names(domain, prefixes) -> list:
    """The host names Amplify serves for the domain: 'www.example.com', and the apex for ''."""
    name = _host(domain)
    return [("%s.%s" % (_host(prefix), name)) if prefix else name for prefix in prefixes or []]


def layer_problems(weighted, domain, prefixes) -> list:
    """What is wrong with the weighted layer settings (traffic_shift_weighted); [] when they are
    usable or empty (Amplify only). Keys set to null count as not given."""
    if not weighted:
        return []
    if not isinstance(weighted, Mapping):
        return ["the weighted layer settings must be a dict (zone, record, blue_value, green_value, ...), got %s"
                % type(weighted).__name__]
    zone, record = _host(weighted.get("zone")), _host(weighted.get("record"))
    blue, green = _given(weighted, "blue_value", ""), _given(weighted, "green_value", "")
    steps = _given(weighted, "steps", list(DEFAULT_STEPS))
    problems = []
    if not zone:
        problems.append("zone is required (the Route 53 hosted zone of the record)")
    if not record:
        problems.append("record is required (the weighted host name)")
    if zone and record and record != zone and not record.endswith("." + zone):
        problems.append("record %s is not in zone %s" % (record, zone))
    if record and record in amplify_host_names(domain, prefixes):
        problems.append(
            "record %s is an Amplify-managed host name of %s: Amplify routes it and it cannot be weighted;"
            " weight a host name your own CloudFront distributions or load balancers serve" % (record, domain)
        )
    if not blue:
        problems.append("blue_value is required (what blue serves from)")
    if not green:
        problems.append("green_value is required (what green serves from)")
    if blue and blue == green:
        problems.append("blue_value and green_value are the same")
    if _given(weighted, "blue_identifier", "blue") == _given(weighted, "green_identifier", "green"):
        problems.append("blue_identifier and green_identifier are the same")
    whole = (isinstance(steps, Sequence) and not isinstance(steps, (str, bytes)) and len(steps) > 0
             and all(_is_whole(s) for s in steps))
    if not whole:
        problems.append("steps must be a non-empty list of whole percents, got %s" % (steps,))
    elif list(steps) != sorted(set(steps)) or min(steps) < 1 or steps[-1] != 100:
        problems.append("steps must be strictly ascending percents from 1 to 100 ending at 100 (e.g. [10, 50, 100]),"
                        " got %s" % (steps,))
    return problems


def settle_layer(weighted) -> dict:
    """The weighted layer with its defaults filled in ({} for Amplify only). A null key takes its
    default. Call layer_problems first: this does not check the settings."""
    if not weighted:
        return {}
    layer = dict(LAYER_DEFAULTS)
    layer.update((k, v) for k, v in weighted.items() if v is not None)
    layer["steps"] = list(layer["steps"])
    return layer


def live_weights(records) -> dict:
    """{found, blue, green, percent} from the blue and green records read from Route 53.

    records: the results of amazon.aws.route53 state=get for the blue then the green identifier
    (a registered loop result, or its `results` list); `set` is {} for a record that does not
    exist. percent is green's share of the weights, rounded; 0 when both are 0 or absent.
    """
    if isinstance(records, Mapping):
        records = records.get("results", [])
    sets = [(r or {}).get("set") or {} for r in records or []]
    sets += [{}] * (2 - len(sets))
    blue, green = (int(s.get("Weight") or 0) for s in sets[:2])
    total = blue + green
    return {
        "found": any(sets),
        "blue": blue,
        "green": green,
        "percent": int(round(100.0 * green / total)) if total > 0 else 0,
    }


def predicted_weights(percent) -> dict:
    """The live weights a step to `percent` % green leaves (what check mode predicts)."""
    percent = int(percent)
    return {"found": True, "blue": 100 - percent, "green": percent, "percent": percent}


def records_to_write(layer, target, live, revert=False) -> list:
    """The weighted records that move the layer to `target` % green, in the order to write them:
    the record whose weight falls first, so no moment between the two writes gives green more
    traffic than before or after. With `revert` (an abort) records already at their weight are
    left out. Each: {side, identifier, value, weight}."""
    target = int(target)
    records = [
        {"side": "blue", "identifier": layer["blue_identifier"], "value": layer["blue_value"], "weight": 100 - target},
        {"side": "green", "identifier": layer["green_identifier"], "value": layer["green_value"], "weight": target},
    ]
    if target < int(live.get("percent") or 0):
        records.reverse()
    if revert:
        records = [r for r in records if r["weight"] != int(live.get(r["side"]) or 0)]
    return records


def on_green(mapping, prefixes, green_branch) -> bool:
    """Whether the domain maps every prefix to the green branch."""
    mapping = mapping or {}
    return all(mapping.get(prefix) == green_branch for prefix in prefixes or [])


def shift_plan(mapping, prefixes, green_branch, layer=None, live=None, decision="") -> dict:
    """Where the shift stands and what is left to run.

    mapping: the Amplify domain's prefix to branch mapping; layer: the settled weighted layer
    ({} for Amplify only); live: the live weights (live_weights).

    Returns {on_green, current, reached, resume_at, plan, summary}:
    - current: green's percent now (100 once the domain maps every prefix to green, else the
      weighted layer's share; 0 without a layer);
    - reached: whether `current` is a step already taken (held, or the run was stopped): a
      re-run resumes there (re-gated, or accepted by `continue`). The 100 % step is reached only
      once the domain points at green;
    - resume_at: `current` when reached, else -1;
    - plan: the steps to run, in order: the reached step, then every later one;
    - summary: one line saying all that, for the run's output.
    """
    layer = layer or {}
    live = live or {"found": False, "blue": 0, "green": 0, "percent": 0}
    green = on_green(mapping, prefixes, green_branch)
    steps = [int(s) for s in (layer.get("steps") or AMPLIFY_ONLY_STEPS)]
    current = 100 if green else int(live.get("percent") or 0)
    reached = current > 0 and (current < 100 or green)
    plan = ([current] if reached else []) + [s for s in steps if (s > current if reached else s >= current)]
    resume_at = current if reached else -1
    summary = "%s has %s%% of traffic now" % (green_branch, current)
    if layer:
        summary += " (weights blue=%s green=%s)" % (live.get("blue"), live.get("green"))
    summary += "; decision '%s'; " % decision
    summary += "aborting" if decision == "abort" else "steps to run: %s%%" % "% ".join(str(s) for s in plan)
    if decision == "continue":
        summary += (" (%s%% accepted by continue)" % resume_at if reached
                    else " (nothing was held: continue changes nothing, every step is gated)")
    return {"on_green": green, "current": current, "reached": reached, "resume_at": resume_at, "plan": plan,
            "summary": summary}


def gate_outcome(decision) -> str:
    """What the shift does after a gate: abort (rollback), held (alert, inconclusive), running."""
    if decision == ABORT_DECISION:
        return "abort"
    if decision in HOLD_DECISIONS:
        return "held"
    return "running"


def step_record(gate, percent, layer=None, live=None, switch=None, preview=False) -> dict:
    """One step's record and the shift's outcome after it.

    gate: the registered rollback_triggers result (skipped when `continue` accepted the step);
    live: the live weights read back after the step; switch: the registered amplify_domain
    result of the step (skipped below 100 %); preview: check mode, where the weights are
    predicted instead of read back.

    Returns {step, gate, outcome, live}: step is {percent, decision, weights, domain} for the
    record and the alerts; gate the gate's summary; live the weights after the step.
    """
    percent = int(percent)
    layer = layer or {}
    gate = gate or {}
    if gate.get("skipped") or "decision" not in gate:
        summary = dict(CONTINUED_GATE, reasons=list(CONTINUED_GATE["reasons"]))
    else:
        summary = {key: gate.get(key) for key in GATE_KEYS}
    if layer and preview:
        live = predicted_weights(percent)
    live = live or {"found": False, "blue": 0, "green": 0, "percent": 0}
    switch = switch or {}
    step = {
        "percent": percent,
        "decision": summary["decision"],
        "weights": {"blue": live.get("blue"), "green": live.get("green")} if layer else {},
        "domain": switch.get("mapping") or {},
    }
    return {"step": step, "gate": summary, "outcome": gate_outcome(summary["decision"]), "live": live}


# Which input a failed read of the domain points at: (result key, role variable, inventory variable).
READ_FAILURE_HINTS = (
    ("domains_of_app", "the domain name", "traffic_shift_domain", "rollback_amplify_domain"),
    ("missing_branches", "the green branch", "traffic_shift_green_branch", "rollback_amplify_green_branch"),
)


def read_failure(result) -> str:
    """The message for a failed read of where the domain points (amplify_domain_info): the
    module's message, then which setting to fix when the failure names one."""
    result = result or {}
    msg = str(result.get("msg") or "the domain could not be read").rstrip(". ")
    for key, what, role_var, inventory_var in READ_FAILURE_HINTS:
        if result.get(key) is not None:
            return "%s. Fix %s (%s; for the playbooks: %s in the inventory); no traffic was moved" % (
                msg, what, role_var, inventory_var)
    return "%s; no traffic was moved" % msg
