#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, PropIE
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drill_report
short_description: Write a DR drill's report as JSON, Markdown and an HTML timeline
version_added: 0.3.0
description:
  - Normalises the report of a C(playbooks/dr_drill.yml) run (times as UTC ISO 8601 with C(Z), step
    durations, the result, follow-ups for what failed or was left behind), masks secrets in it the way
    M(propie.rollback.incident_record) does, and writes three files into O(dest) named after the drill id,
    C(<drill_id>.json), C(<drill_id>.md) and C(<drill_id>.html), in the incident record's formats.
  - The Markdown file has the result, RTO and RPO, every step with pass or fail, each table's canary, restore
    point reached and RPO, the rollback plan, the full rollback (with C(drill_full)), what the cleanup deleted
    and left behind (with the command that removes each leftover), the CloudWatch metrics and the failures.
  - The HTML file is one self-contained page (inline CSS and JavaScript, a Content-Security-Policy that
    forbids loading anything) with the report embedded as JSON and the incident record's timeline chart of
    the steps. All report text is HTML-escaped.
  - Each file is written atomically (a temporary file in O(dest), then a rename) with mode C(0640); O(dest) is
    created with mode C(0750) when missing. A file whose content and mode are already right is left alone.
author:
  - PropIE platform team (@propie)
options:
  report:
    description:
      - The drill's report, as the C(propie.rollback.drill_report) filter builds it. Keys - C(drill_id)
        (C(dr-YYYYMMDDTHHMMSSZ-xxxxxx), names the files), C(env), C(who), C(status) (V(succeeded) or
        V(failed); by default failed when a step failed or something was left behind), C(full), C(started),
        C(finished), C(rto_seconds), C(rpo_seconds), C(timeline) (steps C({step, component, started, ended,
        status, detail}), status V(succeeded), V(failed) or V(skipped)), C(tables), C(plan), C(full_rollback),
        C(cleanup) (C(deleted), C(left_behind)), C(metrics), C(failures). Unknown keys are kept.
    type: dict
    required: true
  dest:
    description: The directory to write the files into; created with mode C(0750) when missing.
    type: path
    required: true
extends_documentation_fragment: [propie.rollback.attributes]
attributes:
  check_mode:
    description: Reports what would be written and writes nothing.
  diff_mode:
    description: The JSON report before (the existing file, or nothing) and after.
"""

EXAMPLES = r"""
- name: Write the drill report
  propie.rollback.drill_report:
    report: "{{ drill_outcome | propie.rollback.drill_report(rollback_who, drill_metrics, drill_alarm) }}"
    dest: "{{ lookup('propie.rollback.state_dir', 'drills', env) }}"
  register: drill_reported

- name: Say how the drill went
  ansible.builtin.debug:
    msg: "{{ drill_reported.summary }}"
"""

RETURN = r"""
paths:
  description:
    - Where the drill report is (or, in check mode, would be) written - C(json) (the report),
      C(markdown) (the summary) and C(html) (the page with the timeline chart).
  returned: always
  type: dict
  sample: {"json": "/var/lib/propie/drills/staging/dr-20261130T030000Z-9f2c1a.json",
           "markdown": "/var/lib/propie/drills/staging/dr-20261130T030000Z-9f2c1a.md",
           "html": "/var/lib/propie/drills/staging/dr-20261130T030000Z-9f2c1a.html"}
files_changed:
  description: The files that were (or in check mode would be) written or had their mode fixed.
  returned: always
  type: list
  elements: str
summary:
  description: One line about the drill.
  returned: always
  type: str
  sample: "dr-20261130T030000Z-9f2c1a staging: drill passed; RTO 1312.5s; RPO 301.2s; rollback plan: traffic, data; left behind: nothing"
report:
  description: The normalised, redacted report, as written to the JSON file.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.propie.rollback.plugins.module_utils import drill as dr
from ansible_collections.propie.rollback.plugins.module_utils import files
from ansible_collections.propie.rollback.plugins.module_utils import record as rec

MIN_NO_LOG_LENGTH = 6


def do(module) -> None:
    params = module.params
    found = set()
    try:
        report = dr.build_report(params["report"], found)
    except (dr.DrillError, rec.RecordError) as err:
        module.fail_json(msg="drill report: %s" % err)
    module.no_log_values.update(v for v in found if len(v) >= MIN_NO_LOG_LENGTH)
    contents = dr.render(report)
    dest = params["dest"]
    if os.path.exists(dest) and not os.path.isdir(dest):
        module.fail_json(msg="dest %s exists and is not a directory" % dest)
    paths = dict((name, os.path.join(dest, "%s.%s" % (report["drill_id"], ext))) for name, ext in dr.OUTPUTS)
    existing = dict((name, files.read_file(path)) for name, path in paths.items())
    changed = not os.path.isdir(dest)
    files_changed = [paths[name] for name, dummy in dr.OUTPUTS
                     if existing[name] != (contents[name], files.FILE_MODE)]
    changed = changed or bool(files_changed)
    if changed and not module.check_mode:
        try:
            files.make_dirs(dest)
            for name, dummy in dr.OUTPUTS:
                if paths[name] not in files_changed:
                    continue
                if existing[name][0] == contents[name]:
                    os.chmod(paths[name], files.FILE_MODE)
                else:
                    files.write_atomic(paths[name], contents[name])
        except OSError as err:
            module.fail_json(msg="cannot write the drill report into %s: %s" % (dest, err))
    result = dict(changed=changed, paths=paths, files_changed=files_changed, summary=dr.summary_line(report),
                  report=report)
    if module._diff:
        before = existing["json"][0]
        result["diff"] = {"before": before.decode("utf-8", "replace") if before is not None else "",
                          "after": contents["json"].decode("utf-8"), "before_header": paths["json"],
                          "after_header": paths["json"]}
    module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(report=dict(type="dict", required=True), dest=dict(type="path", required=True)),
        supports_check_mode=True,
    )
    do(module)


if __name__ == "__main__":
    main()
