"""Named estates that `python -m sandbox seed --scenario NAME` loads into a running sandbox."""

from __future__ import annotations

import importlib

# scenario name -> module with `seed(client: SandboxClient) -> dict`
SCENARIOS = {
    "propie-incident": "sandbox.scenarios.propie_incident",
}


def run_scenario(name: str, endpoint: str) -> str:
    from sandbox.client import SandboxClient

    module = importlib.import_module(SCENARIOS[name])
    client = SandboxClient(endpoint)
    try:
        client.health()
    except OSError as err:
        raise SystemExit(f"sandbox: no sandbox answers at {endpoint} ({err}); "
                         "start one with `python -m sandbox serve`") from None
    return module.describe(module.seed(client))
