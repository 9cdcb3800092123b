#!/usr/bin/env bash
# Part of `make lint`: the gates may not be quieted. ansible-lint honours `# noqa` comments
# and picks up .ansible-lint-ignore on its own; ansible-test honours tests/sanity/ignore-*.txt.
# Findings get fixed, not hidden (see docs/ci.md).
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for ignore in .ansible-lint-ignore .config/ansible-lint-ignore.txt tests/sanity/ignore-*.txt; do
    if [ -e "$ignore" ]; then
        echo "forbidden suppression file: $ignore" >&2
        status=1
    fi
done

if grep -rnE '#[[:space:]]*noqa' --include='*.yml' --include='*.yaml' --include='*.j2' \
    --exclude-dir=.venv --exclude-dir=.build --exclude-dir=.git --exclude-dir=.ansible \
    --exclude-dir=output . >&2; then
    echo "forbidden '# noqa' comment(s) above: fix the finding instead" >&2
    status=1
fi
exit "$status"
