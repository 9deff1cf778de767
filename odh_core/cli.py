"""The `odh-core` command: serve, plugins list, config check, sandbox, and plugin commands."""
from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
from typing import Any, Sequence

from .config import ConfigError, Settings, check_dev_auth_bind, deep_merge, load_settings


def build_parser(argv: Sequence[str] = ()) -> tuple[argparse.ArgumentParser, Any]:
    """The parser; `argv` says which command runs, so only that command's module is imported
    for its arguments (the sandbox server alone took a third of `serve`'s start)."""
    command = argv[0] if argv else ""
    parser = argparse.ArgumentParser(prog="odh-core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--config", help="YAML config (default $ODH_CONFIG)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="processes sharing the port (one per core)")
    p.add_argument("--sandbox", action="store_true",
                   help="embed what is not configured: API server, S3, HF hub")
    p.add_argument("--dev", action="store_true",
                   help="dev auth: token-less requests act as the dev user (binds 127.0.0.1)")
    p.add_argument("--insecure-dev-auth-on-network", action="store_true",
                   help="DANGER: allow dev auth on a non-loopback address (anyone reaching "
                   "the port is an admin)")
    p.add_argument("--reload", action="store_true", help="restart on code/config change")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("plugins", help="installed plugins")
    psub = p.add_subparsers(dest="plugins_command", required=True)
    pl = psub.add_parser("list", help="list installed plugins")
    pl.add_argument("--config")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins_list)

    p = sub.add_parser("config", help="configuration")
    csub = p.add_subparsers(dest="config_command", required=True)
    cc = csub.add_parser("check", help="validate a config file and every enabled plugin's part")
    cc.add_argument("--config")
    cc.set_defaults(func=cmd_config_check)
    cr = csub.add_parser("reference", help="print the documented config file (every key)")
    cr.set_defaults(func=cmd_config_reference)

    p = sub.add_parser("docs", help="write (or --check) the generated docs/ guides")
    if command == "docs":
        from .docs import add_arguments as docs_arguments, run as docs_run

        docs_arguments(p)
        p.set_defaults(func=docs_run)

    p = sub.add_parser("sandbox", help="run the sandbox Kubernetes API server standalone")
    if command == "sandbox":
        try:
            from odh_sandbox.kube import cli as sandbox_cli

            sandbox_cli.add_arguments(p)
            p.set_defaults(func=sandbox_cli.run)
        except ImportError as exc:  # the sandbox extra is not installed
            p.set_defaults(func=lambda _a, e=exc: _fail(f"sandbox unavailable: {e}"))
    return parser, sub


def _fail(message: str) -> int:
    print(f"odh-core: {message}", file=sys.stderr)
    return 2


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    server: dict[str, Any] = {}
    auth: dict[str, Any] = {}
    if args.dev:
        auth["mode"] = "dev"
        server["host"] = "127.0.0.1"  # dev auth must not be reachable from elsewhere
    if args.insecure_dev_auth_on_network:
        auth["insecure_dev_auth_on_network"] = True
    if auth:
        over["auth"] = auth
    if args.host:
        server["host"] = args.host
    if args.port is not None:
        server["port"] = args.port
    if args.workers:
        server["workers"] = args.workers
    if args.reload:
        server["reload"] = True
    if server:
        over["server"] = server
    if args.sandbox:
        over["sandbox"] = {"mode": "on"}
    return over


def cmd_serve(args: argparse.Namespace) -> int:
    from .observability import configure_logging
    from .server import serve

    from .reload import config_stamp

    config_path = args.config or os.environ.get("ODH_CONFIG")
    stamps = config_stamp(config_path)  # before reading: an edit during boot still counts
    settings = load_settings(args.config, overrides=serve_overrides(args))
    check_dev_auth_bind(settings)  # ConfigError: non-zero exit naming the flag
    if settings.server.reload and settings.server.workers > 1:
        return _fail("--reload cannot be combined with --workers > 1")
    if settings.server.workers > 1 and settings.sandbox.mode == "on":
        return _fail("--workers > 1 needs a real or separately started API server: run "
                     "`odh-core sandbox` and point kubernetes.host at it")
    configure_logging(settings.logging.level, settings.logging.format)
    return serve(settings, stamps)


def cmd_plugins_list(args: argparse.Namespace) -> int:
    from . import loader

    settings = load_settings(args.config)
    found = loader.discover()
    loader.decide_enabled(found, settings)
    rows = [{"name": i.name, "distribution": i.distribution, "version": i.version,
             "enabled": i.enabled, "entry_point": i.entry_point.value if i.entry_point else None}
            for i in found.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<14} {'enabled ' if r['enabled'] else 'disabled'} "
                  f"{r['distribution'] or '-'} {r['version'] or ''}  ({r['entry_point']})")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from .app import App

    settings = load_settings(args.config)
    App(settings)  # imports and validates every enabled plugin's config, builds routes
    print(f"config OK: {args.config or os.environ.get('ODH_CONFIG') or 'defaults'}")
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from .reference import installed_plugin_configs, render_reference

    print(render_reference(installed_plugin_configs()), end="")
    return 0


def add_plugin_commands(sub: Any, argv: Sequence[str]) -> None:
    """Let enabled plugins add subcommands (`register_commands`)."""
    from .app import App

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    try:
        app = App(load_settings(known.config))
    except ConfigError:
        return  # the command that needs the config will report the problem
    for impl in reversed(app.pm.hook.register_commands.get_hookimpls()):
        impl.function(**{a: sub for a in impl.argnames})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, sub = build_parser(argv)
    if argv and argv[0] not in {"serve", "plugins", "config", "docs", "sandbox", "-h",
                                "--help"}:
        add_plugin_commands(sub, argv)
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        return int(result or 0)
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


__all__ = ["main", "deep_merge", "Settings"]
