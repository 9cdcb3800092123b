"""Command line: `python -m sandbox serve [--port N]`, `python -m sandbox seed --scenario S`."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import time

DEFAULT_PORT = 4566


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    # Fail before importing moto (slow) if the port is taken.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", args.port))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            print(
                f"sandbox: port {args.port} on 127.0.0.1 is already in use; stop what holds it "
                f"(e.g. `ss -ltnp 'sport = :{args.port}'`) or pass --port N (0 picks a free one)",
                file=sys.stderr,
            )
            return 2
        raise
    finally:
        probe.close()

    started = time.monotonic()
    from sandbox.api import MotoVersionError
    from sandbox.server import build_app

    try:
        app = build_app()
    except MotoVersionError as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return 2
    if args.time_scale is not None:
        app.clock.set_scale(args.time_scale)
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        def log_request(self, code: object = "-", size: object = "-") -> None:
            if args.verbose:
                super().log_request(code, size)

    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=QuietHandler)
    port = server.server_port
    if args.port_file:
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"sandbox: listening on http://127.0.0.1:{port} "
          f"(ready in {time.monotonic() - started:.2f} s, time scale {app.clock.scale})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _seed(args: argparse.Namespace) -> int:
    from sandbox.scenarios import SCENARIOS, run_scenario

    if args.scenario not in SCENARIOS:
        print(f"sandbox: unknown scenario {args.scenario!r}; known: {', '.join(sorted(SCENARIOS))}",
              file=sys.stderr)
        return 2
    summary = run_scenario(args.scenario, args.endpoint)
    print(summary)
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Start a sandbox, seed the incident, show it, optionally run a command, stop."""
    import subprocess
    import tempfile
    from pathlib import Path

    from sandbox.client import SandboxClient
    from sandbox.scenarios import SCENARIOS, run_scenario

    port_file = Path(tempfile.mkdtemp()) / "port"
    serve = [sys.executable, "-m", "sandbox", "serve", "--port", str(args.port), "--port-file", str(port_file)]
    if args.time_scale is not None:
        serve += ["--time-scale", str(args.time_scale)]
    server = subprocess.Popen(serve)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if server.poll() is not None:
                return server.returncode or 2
            if time.monotonic() > deadline:
                print("sandbox: did not start within 30 s", file=sys.stderr)
                return 2
            time.sleep(0.05)
        client = SandboxClient(f"http://127.0.0.1:{port_file.read_text()}")
        print(run_scenario(args.scenario, client.endpoint), flush=True)
        command = [c for c in args.command if c != "--"]
        if not command:
            return 0
        print(f"\n$ {' '.join(command)}", flush=True)
        rc = subprocess.call(command, env={**os.environ, **client.env()})
        module = __import__(SCENARIOS[args.scenario], fromlist=["describe"])
        print("\nAfter:", flush=True)
        print(module.describe({**_facts_for(module, client)}), flush=True)
        return rc
    finally:
        server.terminate()
        server.wait(timeout=10)


def _facts_for(module, client) -> dict:
    return module.facts(client) if hasattr(module, "facts") else {"endpoint": client.endpoint}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the sandbox endpoint on 127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", DEFAULT_PORT)),
                       help="TCP port (default %(default)s; 0 = any free port)")
    serve.add_argument("--time-scale", type=float, default=None,
                       help="real seconds per emulated second (e.g. 0.01)")
    serve.add_argument("--port-file", help="write the bound port to this file when ready")
    serve.add_argument("--verbose", action="store_true", help="log every HTTP request")
    serve.set_defaults(func=_serve)
    seed = sub.add_parser("seed", help="load a scenario into a running sandbox")
    seed.add_argument("--scenario", required=True)
    seed.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL",
                                                           f"http://127.0.0.1:{DEFAULT_PORT}"))
    seed.set_defaults(func=_seed)
    demo = sub.add_parser("demo", help="start a sandbox, seed a scenario, show it, run COMMAND")
    demo.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    demo.add_argument("--scenario", default="propie-incident")
    demo.add_argument("--time-scale", type=float, default=None,
                      help="real seconds per emulated second while COMMAND runs (e.g. 0.05)")
    demo.add_argument("command", nargs=argparse.REMAINDER,
                      help="command to run against the seeded sandbox (AWS_* variables set)")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
