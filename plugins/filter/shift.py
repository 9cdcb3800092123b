# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the traffic shift (role traffic_shift): the weighted layer's checks and defaults,
the live weights, the records a step writes, the plan, a step's record, a failed read's message.

The logic lives in module_utils/shift.py (pure, unit-tested); each filter is documented in the
YAML file of its name beside this one (``ansible-doc -t filter propie.rollback.shift_plan``).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.propie.rollback.plugins.module_utils import shift


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError("%s must be a dict, got %s" % (what, type(value).__name__))
    return value


def shift_layer_problems(weighted, domain, prefixes):
    """What is wrong with the weighted layer settings; [] when usable or empty."""
    return shift.layer_problems(weighted, domain, prefixes)


def shift_layer(weighted):
    """The weighted layer with its defaults; {} for Amplify only."""
    return shift.settle_layer(_mapping(weighted, "the weighted layer settings"))


def shift_weights(records):
    """{found, blue, green, percent} from the route53 reads of the blue and green records."""
    return shift.live_weights(records)


def shift_records(layer, target, live, revert=False):
    """The weighted records that move the layer to `target` % green, in the order to write them."""
    layer = _mapping(layer, "the weighted layer")
    missing = [k for k in ("blue_identifier", "green_identifier", "blue_value", "green_value") if k not in layer]
    if missing:
        raise AnsibleFilterError("the weighted layer has no %s (settle it with shift_layer first)" % ", ".join(missing))
    return shift.records_to_write(layer, target, _mapping(live, "the live weights"), revert=bool(revert))


def shift_plan(mapping, prefixes, green_branch, layer=None, live=None, decision=""):
    """Where the shift stands and which steps are left."""
    return shift.shift_plan(_mapping(mapping, "the domain mapping"), prefixes, green_branch,
                            layer=_mapping(layer, "the weighted layer"), live=_mapping(live, "the live weights"),
                            decision=decision or "")


def shift_step(gate, percent, layer=None, live=None, switch=None, preview=False):
    """One step's record, the gate's summary, the outcome and the weights after the step."""
    return shift.step_record(_mapping(gate, "the gate result"), percent, layer=_mapping(layer, "the weighted layer"),
                             live=_mapping(live, "the live weights"), switch=_mapping(switch, "the domain switch result"),
                             preview=bool(preview))


def shift_read_failure(result):
    """The message for a failed read of where the domain points, naming the setting to fix."""
    return shift.read_failure(_mapping(result, "the failed result"))


class FilterModule(object):
    def filters(self):
        return {
            "shift_layer_problems": shift_layer_problems,
            "shift_layer": shift_layer,
            "shift_weights": shift_weights,
            "shift_records": shift_records,
            "shift_plan": shift_plan,
            "shift_step": shift_step,
            "shift_read_failure": shift_read_failure,
        }
