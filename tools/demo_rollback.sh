#!/usr/bin/env bash
# Rolls the seeded PropIE incident back with the one command (called by `make demo` through
# `python -m sandbox demo`, which starts the sandbox, seeds it and sets AWS_ENDPOINT_URL).
# The sandbox runs emulated time fast; the sandbox group of the inventory polls every second.
set -euo pipefail
cd "$(dirname "$0")/.."
good_time=$(date -u -d '30 minutes ago' +%Y-%m-%dT%H:%M:%SZ)
export PROPIE_ROLLBACK_STATE_DIR="${PROPIE_ROLLBACK_STATE_DIR:-$PWD/rollback-state}"

echo "== The plan (--check: reads only)"
ansible-playbook playbooks/rollback.yml -e env=sandbox -e "restore_point=${good_time}" --check
echo "== The rollback: traffic, frontend, infra and data (restored to ${good_time})"
ansible-playbook playbooks/rollback.yml -e env=sandbox -e "restore_point=${good_time}"
echo "== The incident record"
python3 - "${PROPIE_ROLLBACK_STATE_DIR}/incidents/sandbox" <<'PY'
import json, pathlib, sys
path = str(max(pathlib.Path(sys.argv[1]).glob("*.json"), key=lambda p: p.stat().st_mtime))
record = json.load(open(path))
print(f"{record['incident_id']} on {record['env']}: {record['status']}; traffic restored in "
      f"{record['time_to_traffic_restored_s']:.1f}s, all done in {record['time_to_all_done_s']:.1f}s")
for name, comp in record["components"].items():
    print(f"  {name:9} {comp['status']}")
print("  follow-ups open:", sum(1 for f in record["follow_ups"] if f.get("status") != "done"))
base = path[:-len(".json")]
for ext in ("json", "md", "html"):
    print(f"  {base}.{ext}")
PY
