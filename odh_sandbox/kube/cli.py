"""`odh-core sandbox`: run the sandbox API server standalone until Ctrl-C / SIGTERM."""
from __future__ import annotations

import argparse
import asyncio
import signal

from .server import SandboxKubeServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="plain http port (0: any free)")
    parser.add_argument("--https-port", type=int, default=0, help="https port (0: any free)")
    parser.add_argument("--kubeconfig-out", default=None,
                        help="where to write the kubeconfig (default: in the state dir)")
    parser.add_argument("--seed-dir", default=None, help="seed objects (default conf/sandbox)")
    parser.add_argument("--state-dir", default=None,
                        help="keeps the CA across runs so kubeconfigs stay valid")


async def _serve(args: argparse.Namespace) -> None:
    server = SandboxKubeServer(seed_dir=args.seed_dir, host=args.host, port=args.port,
                               https_port=args.https_port, kubeconfig_out=args.kubeconfig_out,
                               state_dir=args.state_dir)
    await server.start()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    users = ", ".join(server.users())
    print(f"sandbox Kubernetes API server\n  https: {server.https_url}\n"
          f"  http:  {server.http_url}\n  kubeconfig: {server.kubeconfig}\n"
          f"  contexts: {users}\n  try: KUBECONFIG={server.kubeconfig} kubectl get ns",
          flush=True)
    try:
        await done.wait()
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


def main() -> int:  # python -m odh_sandbox.kube.cli
    parser = argparse.ArgumentParser(prog="odh-core sandbox")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
