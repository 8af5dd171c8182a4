"""``lab mqtt watch TOPIC``: a quick look at what is published on a topic (wildcards welcome).

Imported while ``lab`` builds its parser, so paho-mqtt is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import queue
import sys
import threading
import time

from lab_core.exitcodes import ExitCode


def add_subcommands(subparsers) -> None:
    mqtt = subparsers.add_parser("mqtt", help="MQTT tools: watch a topic")
    sub = mqtt.add_subparsers(title="mqtt commands", metavar="COMMAND")
    mqtt.set_defaults(func=lambda args: (mqtt.print_help(), ExitCode.CONFIG)[1])

    watch = sub.add_parser("watch", help="print the messages published on a topic until Ctrl-C",
                           description="Subscribe to TOPIC (MQTT wildcards + and # allowed, e.g. 'lab/#') and "
                                       "print each message: arrival time, topic, payload, and the value a "
                                       "lab mqtt reader would take from it.")
    watch.add_argument("topic", metavar="TOPIC", nargs="+", help="topic or topic filter, e.g. lab/oven_t or lab/#")
    watch.add_argument("--host", default="127.0.0.1", help="broker (default 127.0.0.1)")
    watch.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    watch.add_argument("--username", help="user name at the broker")
    watch.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    watch.add_argument("--tls", action="store_true", help="connect with TLS")
    watch.add_argument("--ca-certs", metavar="FILE", help="CA certificates for --tls (default: the system's)")
    watch.add_argument("--protocol", choices=("5", "3.1.1"), default="5", help="MQTT version (default 5)")
    watch.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    watch.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    watch.add_argument("--value-field", default="value", help="where the value is in a JSON payload")
    watch.add_argument("--json", action="store_true", help="one JSON object per message")
    watch.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    from .broker import BrokerUnavailable, broker_from_options, default_client_id
    from .payload import FieldPath, PayloadFormat, check_topic_filter

    try:
        topics = [check_topic_filter(t) for t in args.topic]
        broker = broker_from_options(host=args.host, port=args.port, username=args.username,
                                     password_env=args.password_env, tls=args.tls, ca_certs=args.ca_certs,
                                     protocol=args.protocol)
        decode = PayloadFormat(FieldPath(args.value_field)).decode
    except ValueError as exc:
        print(f"lab mqtt watch: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    messages: queue.Queue = queue.Queue()
    connected = threading.Event()
    client = broker.client(default_client_id("watch", str(time.time())))

    def on_connect(client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(t, 0) for t in topics])
            connected.set()
        else:
            messages.put(reason_code)

    client.on_connect = on_connect
    client.on_message = lambda client, userdata, message: messages.put(message)
    try:
        broker.connect(client, connected)
    except BrokerUnavailable as exc:
        print(f"lab mqtt watch: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    print(f"watching {', '.join(topics)} on {broker.describe()} (Ctrl-C stops)", file=sys.stderr, flush=True)
    seen = 0
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while args.count is None or seen < args.count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                message = messages.get(timeout=0.5 if left is None else min(left, 0.5))
            except queue.Empty:
                continue
            if not hasattr(message, "payload"):
                print(f"lab mqtt watch: the broker refused the connection: {message}", file=sys.stderr)
                return ExitCode.FAILED
            seen += 1
            _show(message, decode(message.payload), args.json)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    finally:
        client.disconnect()
        client.loop_stop()
    return ExitCode.OK


def _show(message, reading, as_json: bool) -> None:
    now = time.time()
    payload = message.payload.decode(errors="replace")
    if as_json:
        print(json.dumps({"arrival": now, "topic": message.topic, "retained": bool(message.retain),
                          "payload": payload, "value": reading.value, "time": reading.time,
                          "error": reading.error}), flush=True)
        return
    stamp = dt.datetime.fromtimestamp(now).strftime("%H:%M:%S.%f")[:-3]
    seen = f"error: {reading.error}" if reading.error else f"value {reading.value!r}"
    retained = " (retained)" if message.retain else ""
    print(f"{stamp}  {message.topic}{retained}  {payload}  -> {seen}", flush=True)
