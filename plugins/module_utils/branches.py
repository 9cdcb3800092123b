# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amplify branch lists shared by the swap modules and the rollback-summary filter.

No AWS imports here: filter plugins load in every task's worker, and importing boto3 there
would cost each templated task about a quarter of a second.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from typing import Any
    from typing import Dict
    from typing import List


def merge_branches(entries: Any) -> List[Dict[str, Any]]:
    """{app_id, branch_name, variables_changed} once per branch, in first-seen order; changed if any entry is."""
    branches = {}  # type: Dict[Any, Dict[str, Any]]
    for entry in entries:
        key = (entry["app_id"], entry["branch_name"])
        if key in branches:
            branches[key]["variables_changed"] = branches[key]["variables_changed"] or entry["variables_changed"]
        else:
            branches[key] = {"app_id": entry["app_id"], "branch_name": entry["branch_name"],
                             "variables_changed": bool(entry["variables_changed"])}
    return list(branches.values())
