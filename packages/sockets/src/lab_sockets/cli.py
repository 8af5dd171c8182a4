"""``lab socket query|push|status``: talk to data sockets from the shell.

Kept light: only argparse here; the client is imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_subcommands(subparsers) -> None:
    parser = subparsers.add_parser("socket", help="talk to PyExpLabSys-compatible data sockets",
                                   description="Send one request to a data socket and print the reply.")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="socket_action")
    actions.required = True

    def common(sub: argparse.ArgumentParser, default_timeout: float, default_retries: int) -> None:
        sub.add_argument("address", metavar="HOST:PORT", help="the socket server, e.g. rasppi250:9000")
        sub.add_argument("--transport", default="udp", help="udp (default) or tcp, or another installed transport")
        sub.add_argument("--timeout", type=float, default=default_timeout, metavar="S",
                         help=f"seconds to wait for a reply (default {default_timeout})")
        sub.add_argument("--retries", type=int, default=default_retries,
                         help=f"tries after a timeout (default {default_retries})")

    query = actions.add_parser("query", help="send a pull command (json_wn, raw, name, temp#json…), print the reply")
    common(query, 1.0, 2)
    query.add_argument("command", metavar="COMMAND", help="e.g. json_wn, codenames_json, name, mycodename#json")
    query.set_defaults(func=cmd_query)

    push = actions.add_parser("push", help="push a JSON object to a push socket (json_wn#…), print the reply")
    common(push, 2.0, 0)
    push.add_argument("data", metavar="JSON", help='a JSON object, e.g. \'{"number": 42}\'')
    push.set_defaults(func=cmd_push)

    status = actions.add_parser("status", help="print the status of a socket's machine and servers (JSON)")
    common(status, 2.0, 2)
    status.add_argument("--compact", action="store_true", help="one line instead of indented JSON")
    status.set_defaults(func=cmd_status)


def _client(kind: str, args: argparse.Namespace):
    from .client import PullClient, PushClient, parse_address
    from .errors import SocketError

    try:
        host, port = parse_address(args.address)
    except ValueError as exc:
        raise SocketError(str(exc)) from None
    cls = PullClient if kind == "pull" else PushClient
    return cls(host, port, transport=args.transport, timeout=args.timeout, retries=args.retries)


def _request(client, command: str) -> str:
    from .errors import SocketError

    try:
        return client.request(command)
    except OSError as exc:  # NoReply, connection refused, unknown host
        if isinstance(exc, SocketError):
            raise
        raise SocketError(f"{client.transport_name} {client.address[0]}:{client.address[1]}: {exc}") from None


def cmd_query(args: argparse.Namespace) -> int:
    with _client("pull", args) as client:
        print(_request(client, args.command))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .errors import SocketError
    from .protocol.common import encode_json

    try:
        data = json.loads(args.data)
    except ValueError as exc:
        raise SocketError(f"JSON argument is not valid JSON ({exc}); e.g. '{{\"number\": 42}}'") from None
    if not isinstance(data, dict):
        raise SocketError(f"JSON argument must be an object ({{...}}), got {type(data).__name__}")
    with _client("push", args) as client:
        reply = _request(client, "json_wn#" + encode_json(data))
    print(reply)
    return 1 if reply.startswith(("ERROR#", "EXCEP#")) else 0


def cmd_status(args: argparse.Namespace) -> int:
    from .errors import SocketError

    with _client("pull", args) as client:
        reply = _request(client, "status")
    try:
        status = json.loads(reply)
    except ValueError:
        raise SocketError(f"the reply to status is not JSON: {reply[:200]!r}") from None
    json.dump(status, sys.stdout, indent=None if args.compact else 2)
    print()
    return 0
