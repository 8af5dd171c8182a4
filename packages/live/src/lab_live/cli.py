"""``lab live``: the command line of the dashboard (argument parsing here; the server is imported on run)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from lab_core.netaccess import network_argument

log = logging.getLogger(__name__)

EXAMPLE = """\
examples:
  lab live                                   LiveSocket datagrams on udp 9767, page on http://127.0.0.1:9768/
  lab live --pull rasppi42:9000 --pull rasppi43:9000 --poll-interval 0.5
  lab live --http-host 0.0.0.0 --http-port 8080 --stale-after 10
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .protocol import DEFAULT_HTTP_PORT, DEFAULT_LIVE_PORT

    parser = subparsers.add_parser(
        "live", help="a live web dashboard of LiveSocket datagrams and pull sockets",
        description="Serve a web page showing every codename's latest value and a scrolling plot, updated live, "
                    "from PyExpLabSys LiveSocket datagrams (UDP) and polled pull sockets (json_wn).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    udp = parser.add_argument_group("LiveSocket receiver")
    udp.add_argument("--udp-host", default="0.0.0.0", metavar="HOST",
                     help="address to receive LiveSocket datagrams on (default: 0.0.0.0, all interfaces, as "
                          "PyExpLabSys's live server)")
    udp.add_argument("--udp-port", type=int, default=DEFAULT_LIVE_PORT, metavar="PORT",
                     help=f"UDP port (default: {DEFAULT_LIVE_PORT}, the customary live-server port; 0: any)")
    udp.add_argument("--no-udp", action="store_true", help="do not receive LiveSocket datagrams (pull sockets only)")
    udp.add_argument("--udp-allow", action="append", metavar="NETWORK", type=network_argument,
                     help="only take datagrams from this network or address (repeat; default: everyone)")
    pull = parser.add_argument_group("pull sockets")
    pull.add_argument("--pull", action="append", default=[], metavar="HOST:PORT",
                      help="a DateDataPullSocket / DataPullSocket to poll with json_wn (repeat, or comma-separate; "
                           "port defaults to 9000; [::1]:9000 for IPv6)")
    pull.add_argument("--poll-interval", type=float, default=1.0, metavar="S",
                      help="seconds between polls, drift-free: due at start + k·S (default: 1)")
    pull.add_argument("--poll-timeout", type=float, default=None, metavar="S",
                      help="seconds to wait for each round's replies (default: the interval, at most 2)")
    page = parser.add_argument_group("dashboard")
    page.add_argument("--http-host", default="127.0.0.1", metavar="HOST",
                      help="address to serve the page on (default: 127.0.0.1; 0.0.0.0 to let other machines see it)")
    page.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, metavar="PORT",
                      help=f"HTTP port (default: {DEFAULT_HTTP_PORT}; 0: any free port, the bound URL is printed)")
    page.add_argument("--http-allow", action="append", metavar="NETWORK", type=network_argument,
                      help="only serve the page to this network or address (repeat; default: everyone)")
    page.add_argument("--stale-after", type=float, default=30.0, metavar="S",
                      help="mark a value stale after S seconds without a new point (default: 30)")
    page.add_argument("--history", type=int, default=1000, metavar="N",
                      help="points kept and plotted per codename (default: 1000)")
    page.add_argument("--title", default="lab live", help="page title (default: lab live)")
    page.add_argument("--max-clients", type=int, default=100, metavar="N",
                      help="browsers served at once; more get HTTP 503 and retry every 5 s (default: 100)")
    page.add_argument("--client-timeout", type=float, default=20.0, metavar="S",
                      help="disconnect a browser that stops reading for S seconds; it reconnects by itself "
                           "(default: 20)")
    page.add_argument("--max-channels", type=int, default=5000, metavar="N",
                      help="codenames kept at most; further new ones are ignored, counted and logged once "
                           "(default: 5000)")
    page.add_argument("--config", metavar="CONFIG.toml",
                      help="a lab configuration: its variables' units and descriptions are shown")
    page.add_argument("--unit", action="append", default=[], metavar="CODENAME=UNIT",
                      help="show CODENAME's values with UNIT (repeat; wins over --config)")
    parser.set_defaults(func=run)
    return parser


def meta_of(config_path: str | None, units: list[str]) -> dict[str, dict[str, str]]:
    """Units and descriptions from a lab configuration's variables and ``--unit CODENAME=UNIT``."""
    from lab_core.errors import ConfigError

    meta: dict[str, dict[str, str]] = {}
    if config_path:
        from lab_core import config

        for context in config.parse_contexts(config.read_toml(config_path).get("contexts")):
            for v in context.variables:
                found = {k: getattr(v, k) for k in ("unit", "description") if getattr(v, k)}
                if found:
                    meta.setdefault(v.codename, {}).update(found)
    for item in units:
        codename, sep, unit = item.partition("=")
        if not sep or not codename.strip() or not unit.strip():
            raise ConfigError(f"lab live: --unit {item!r} is not CODENAME=UNIT, e.g. --unit oven_t=degC")
        meta.setdefault(codename.strip(), {})["unit"] = unit.strip()
    return meta


def run(args: argparse.Namespace) -> int:
    from lab_core.errors import ConfigError

    from .server import LiveConfig, LiveServer

    try:
        config = LiveConfig(
            udp_host=args.udp_host, udp_port=None if args.no_udp else args.udp_port, pull=tuple(args.pull),
            poll_interval=args.poll_interval, poll_timeout=args.poll_timeout, stale_after=args.stale_after,
            history=args.history, http_host=args.http_host, http_port=args.http_port, title=args.title,
            max_clients=args.max_clients, client_timeout=args.client_timeout, max_channels=args.max_channels,
            udp_allow=args.udp_allow, http_allow=args.http_allow, meta=meta_of(args.config, args.unit))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"lab live: {exc}") from None
    if config.udp_port is None and not config.pull:
        raise ConfigError("lab live: nothing to show: drop --no-udp or add --pull HOST:PORT")
    server = LiveServer(config)
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(str(exc.strerror or exc)) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        udp = server.udp_address
        where = f"LiveSocket datagrams on udp {udp[0]}:{udp[1]}; " if udp else ""
        print(f"lab live: dashboard at {server.url} ({where}Ctrl-C to stop)", flush=True)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0


if __name__ == "__main__":  # python -m lab_live.cli (for debugging without the lab command)
    parser = argparse.ArgumentParser(prog="lab")
    add_parser(parser.add_subparsers())
    logging.basicConfig(level=logging.INFO)
    parsed = parser.parse_args(sys.argv[1:])
    sys.exit(parsed.func(parsed))
