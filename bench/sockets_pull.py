"""json_wn requests/s and p99 latency: lab-sockets' DateDataPullSocket against a bare recvfrom/sendto loop.

    .venv/bin/python bench/sockets_pull.py [--duration 2] [--rounds 3] [--clients 1 8]

Both servers run in their own process and send the same reply bytes (the
DateDataPullSocket's json_wn reply for three codenames), so the bare loop is the
limit of a Python UDP server on this machine. Clients are separate processes,
each with one request in flight (send, wait for the reply, repeat). Rounds
alternate bare and lab; the median round is reported. Absolute figures on a
shared machine are noise; the ratio is the result.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import socket
import statistics
import sys
import time
from array import array

HOST = "127.0.0.1"
CODENAMES = ["temperature", "pressure", "flow"]
POINTS = {"temperature": (1795245643.0003388, 21.5), "pressure": (1795245641.0965312, 1e-09),
          "flow": (1795245642.5, 3.25)}
COMMAND = b"json_wn"


def reference_reply() -> bytes:
    from lab_sockets.protocol import DateDataPullProtocol

    protocol = DateDataPullProtocol("bench", CODENAMES)
    protocol.set_batch(POINTS)
    return protocol.receive(COMMAND)


def serve_bare(ready, reply: bytes) -> None:
    """The limit: receive a datagram, send the reply, nothing else."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    ready.send(sock.getsockname()[1])
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:
        _, address = recvfrom(65536)
        sendto(reply, address)


def serve_lab(ready, reply: bytes) -> None:
    from lab_sockets import DateDataPullSocket

    server = DateDataPullSocket("bench", CODENAMES, port=0, host=HOST)
    server.set_batch(POINTS)
    server.start()
    ready.send(server.port)
    ready.recv()  # until the parent closes the pipe or terminates us
    server.stop()


def client(port: int, start_at: float, duration: float, results) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((HOST, port))
    sock.settimeout(2.0)
    send, recv = sock.send, sock.recv
    latencies = array("d")
    lost = 0
    while time.time() < start_at:
        time.sleep(0.001)
    clock = time.perf_counter
    end = clock() + duration
    while True:
        t0 = clock()
        send(COMMAND)
        try:
            recv(65536)
        except TimeoutError:
            lost += 1
            continue
        t1 = clock()
        latencies.append(t1 - t0)
        if t1 >= end:
            break
    results.put((lost, latencies.tobytes()))


def run(kind: str, clients: int, duration: float, reply: bytes) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve_bare if kind == "bare" else serve_lab, args=(child, reply), daemon=True)
    server.start()
    port = parent.recv()
    try:
        results = ctx.Queue()
        start_at = time.time() + 0.5 + 0.1 * clients  # every client process is up by then
        workers = [ctx.Process(target=client, args=(port, start_at, duration, results)) for _ in range(clients)]
        for worker in workers:
            worker.start()
        collected = [results.get(timeout=duration + 60) for _ in workers]
        for worker in workers:
            worker.join()
    finally:
        server.terminate()
        server.join()
    latencies = array("d")
    for _, data in collected:
        latencies.frombytes(data)
    ordered = sorted(latencies)
    return {
        "requests_per_s": len(latencies) / duration,
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
        "lost": sum(lost for lost, _ in collected),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is shown (default 3)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients (default 1 8)")
    args = parser.parse_args(argv)
    reply = reference_reply()
    print(f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; json_wn of {len(CODENAMES)} codenames ({len(reply)} bytes); "
          f"{args.rounds} rounds of {args.duration:g} s")
    print(f"{'clients':>7}  {'bare req/s':>10}  {'lab req/s':>10}  {'ratio':>5}  "
          f"{'bare p99 us':>11}  {'lab p99 us':>10}  {'bare p50 us':>11}  {'lab p50 us':>10}")
    worst = None
    for clients in args.clients:
        rounds: dict[str, list[dict]] = {"bare": [], "lab": []}
        for _ in range(args.rounds):
            for kind in ("bare", "lab"):
                rounds[kind].append(run(kind, clients, args.duration, reply))

        def median(kind: str, key: str, rounds: dict[str, list[dict]] = rounds) -> float:
            return statistics.median(r[key] for r in rounds[kind])

        ratio = median("lab", "requests_per_s") / median("bare", "requests_per_s")
        worst = ratio if worst is None else min(worst, ratio)
        lost = sum(r["lost"] for kind in rounds for r in rounds[kind])
        print(f"{clients:>7}  {median('bare', 'requests_per_s'):>10.0f}  {median('lab', 'requests_per_s'):>10.0f}  "
              f"{ratio:>5.2f}  {median('bare', 'p99_us'):>11.0f}  {median('lab', 'p99_us'):>10.0f}  "
              f"{median('bare', 'p50_us'):>11.0f}  {median('lab', 'p50_us'):>10.0f}"
              + (f"  ({lost} lost)" if lost else ""))
    print(f"# lowest ratio lab/bare: {worst:.2f}x (goal >= 0.6x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
