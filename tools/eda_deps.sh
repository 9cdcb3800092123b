#!/usr/bin/env bash
# Part of `make test` and `make listen`: what the alarm listener (ansible-rulebook) needs beyond
# the pinned Python packages, installed when this machine allows it, else a clear failure.
#   Java 17+ (ansible-rulebook's rules engine, drools_jpy): Debian's openjdk-17-jre-headless.
# Usage: tools/eda_deps.sh [VENV]   (default .venv)
set -euo pipefail

venv="${1:-.venv}"
package="openjdk-17-jre-headless"

java_major() {
    # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15 (on stderr)
    local version
    version="$(java -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1)"
    echo "${version:-0}"
}

have_java() {
    command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ]
}

if ! have_java; then
    found="none"
    if command -v java >/dev/null 2>&1; then
        found="Java $(java_major)"
    fi
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "ansible-rulebook needs Java 17+ (found: $found): installing $package with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "$package" >&2
    fi
    if ! have_java; then
        echo "ERROR: ansible-rulebook (the alarm listener and its tests) needs Java 17 or newer on PATH" \
            "(found: $found). Install it, e.g. 'sudo apt-get install $package' on Debian/Ubuntu," \
            "or set PATH/JAVA_HOME to a JDK/JRE 17+." >&2
        exit 1
    fi
fi

if ! "$venv/bin/ansible-rulebook" --version >/dev/null 2>&1; then
    echo "ERROR: $venv/bin/ansible-rulebook does not run; reinstall the pins:" \
        "$venv/bin/pip install -r requirements.txt -c constraints.txt" >&2
    "$venv/bin/ansible-rulebook" --version >&2 || true
    exit 1
fi
