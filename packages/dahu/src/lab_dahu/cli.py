"""``lab dahu …``: serve jobs over a transport, submit one, serve them over Tango, reprocess saved jobs.

Only argparse here at import time: the executors' and Tango's dependencies are
imported when a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys

from lab_core.netaccess import network_argument

log = logging.getLogger("lab.dahu")


def add_subcommands(subparsers) -> None:
    dahu = subparsers.add_parser("dahu", help="processing jobs (dahu): job server, Tango server, reprocess")
    sub = dahu.add_subparsers(title="dahu commands", metavar="COMMAND")
    dahu.set_defaults(func=lambda args: (dahu.print_help(), 2)[1])

    serve = sub.add_parser("serve", help="serve dahu's commands (startJob, waitJob…) over a lab transport")
    serve.add_argument("--transport", default="udp", help="a transport from lab_transports (default udp)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default 8770; 0: any free port)")
    serve.add_argument("--allow", action="append", default=None, metavar="NETWORK", type=network_argument,
                       help="answer only clients in NETWORK (e.g. 10.0.0.0/8 or 192.168.1.20); repeatable; "
                            "default: every client that can reach --host")
    _job_options(serve)
    serve.add_argument("--max-wait", type=float, default=2.0, metavar="S",
                       help="longest a waitJob request blocks before answering the current state (default 2)")
    serve.add_argument("--grace", type=float, default=5.0, metavar="S",
                       help="on SIGTERM/Ctrl-C, seconds running jobs get to finish before they are aborted (5)")
    serve.set_defaults(func=cmd_serve)

    submit = sub.add_parser("submit", help="start a job on a running job server (lab dahu serve)")
    submit.add_argument("plugin", help="plugin name, e.g. example.square")
    submit.add_argument("input", metavar="JSON", help='the job\'s input, a JSON object, e.g. \'{"x": 3}\'')
    submit.add_argument("--wait", action="store_true", help="wait for the job; print its state and output")
    submit.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="with --wait: give up after S seconds (default: wait until the job is over)")
    submit.add_argument("--host", default="127.0.0.1", help="the server's address (default 127.0.0.1)")
    submit.add_argument("--port", type=int, default=None, help="the server's port (default 8770)")
    submit.add_argument("--transport", default="udp", help="the server's transport (default udp)")
    submit.set_defaults(func=cmd_submit)

    tango = sub.add_parser("tango", help="run the Tango device server DahuDS (needs lab-dahu[tango])")
    tango.add_argument("instance", help="server instance name")
    tango.add_argument("--device", default=None, metavar="DOM/FAM/MEMBER",
                       help="with --nodb: the device name to export (default dau/dahu/<instance>)")
    tango.add_argument("--nodb", action="store_true", help="run without a Tango database (needs --port)")
    tango.add_argument("--port", type=int, default=None, help="ORB port (needed with --nodb)")
    tango.add_argument("--allow", action="append", default=None, metavar="NETWORK", type=network_argument,
                       help="answer only clients in NETWORK (e.g. 10.0.0.0/8 or 192.168.1.20); repeatable; "
                            "default: every client, as dahu's DahuDS")
    _job_options(tango)
    tango.add_argument("--max-wait", type=float, default=2.5, metavar="S",
                       help="longest a waitJob command blocks (keep below the client's Tango timeout; default 2.5)")
    tango.add_argument("--grace", type=float, default=5.0, metavar="S",
                       help="on SIGTERM, seconds running jobs get to finish before they are aborted (5)")
    tango.add_argument("tango_args", nargs="*", help="more Tango options, after --")
    tango.set_defaults(func=cmd_tango)

    repro = sub.add_parser("reprocess", help="re-run saved jobs (.inp files) and write new .inp/.out files")
    repro.add_argument("files", nargs="+", metavar="FILE.inp")
    _executor_options(repro)
    repro.add_argument("--workdir", help="where the new jobs are written (default $LAB_DAHU_WORKDIR or <tmp>/lab-dahu)")
    repro.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                       help="import MODULE first (it registers plugins with @register); repeatable")
    repro.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    repro.add_argument("--json", action="store_true", help="print the summary as JSON")
    repro.set_defaults(func=cmd_reprocess)

    plugins = sub.add_parser("plugins", help="list the processing plugins that jobs can use")
    plugins.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")
    plugins.set_defaults(func=cmd_plugins)


def _executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("thread", "process", "dask"), default="thread",
                        help="where jobs run: a bounded thread pool (default), a process pool, or Dask")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="threads / processes / LocalCluster workers (default: from the CPU count)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="with --executor dask: a running scheduler (default: a LocalCluster here)")


def _job_options(parser: argparse.ArgumentParser) -> None:
    _executor_options(parser)
    parser.add_argument("--workdir",
                        help="where finished jobs are written (default $LAB_DAHU_WORKDIR or <tmp>/lab-dahu)")
    parser.add_argument("--serialize", action="store_true", help="run jobs one at a time, in order")
    parser.add_argument("--input-dir", default=None, metavar="DIR",
                        help="clients may name JSON files inside DIR as a job's input (default: none; "
                             "clients send JSON objects)")
    parser.add_argument("--no-clean", action="store_true", help="keep finished jobs in memory, do not write them")
    parser.add_argument("--max-jobs", type=int, default=10_000, metavar="N",
                        help="jobs queued or running at once; more are refused (default 10000)")
    parser.add_argument("--max-finished", type=int, default=None, metavar="N",
                        help="finished jobs remembered in memory (default 1000)")
    parser.add_argument("--max-age", type=float, default=None, metavar="S",
                        help="seconds a finished job is remembered in memory (default 86400)")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (it registers plugins with @register); repeatable")


def _prepare(args: argparse.Namespace):
    from .executors import make_executor
    from .job import Job

    for module in getattr(args, "imports", []):
        importlib.import_module(module)
    Job.configure(max_finished=getattr(args, "max_finished", None),
                  max_age=getattr(args, "max_age", None) if getattr(args, "max_age", None) is not None else "keep",
                  workdir=getattr(args, "workdir", None))
    if args.scheduler and args.executor != "dask":
        raise SystemExit("lab dahu: --scheduler needs --executor dask")
    return make_executor(args.executor, args.workers, args.scheduler)


def _service(args: argparse.Namespace, executor):
    from .service import JobService

    return JobService(executor, serialize=args.serialize, clean=not args.no_clean, max_wait=args.max_wait,
                      input_dir=args.input_dir, max_jobs=args.max_jobs)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import DEFAULT_PORT, JobServer

    executor = _prepare(args)
    try:
        server = JobServer(_service(args, executor), transport=args.transport, host=args.host,
                           port=DEFAULT_PORT if args.port is None else args.port, allow=args.allow)
        server.start()
        host, port = server.address
        print(f"lab dahu: serving on {args.transport} {host}:{port} (executor: {executor.kind}, "
              f"{executor.workers} workers); SIGTERM or Ctrl-C stops", flush=True)
        stopped = server.serve_forever(grace=args.grace)
    finally:
        executor.shutdown(wait=False)
    print("lab dahu: stopped" if stopped else "lab dahu: stopped, leaving jobs that ignored their abort",
          flush=True)
    if not stopped:
        exit_now(1)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Exit 0 when the job was started (with --wait: succeeded), 1 when it failed, 2 for bad input."""
    import json

    from lab_core.exitcodes import ExitCode

    from .client import DahuClient, DahuError
    from .server import DEFAULT_PORT

    try:
        data = json.loads(args.input)
    except ValueError as exc:
        print(f"lab dahu submit: JSON is not valid JSON ({exc}); write e.g. '{{\"x\": 3}}'", file=sys.stderr)
        return ExitCode.CONFIG
    if not isinstance(data, dict):
        print("lab dahu submit: JSON must be an object, e.g. '{\"x\": 3}'", file=sys.stderr)
        return ExitCode.CONFIG
    client = DahuClient((args.host, DEFAULT_PORT if args.port is None else args.port), transport=args.transport)
    try:
        job_id = client.start_job(args.plugin, data)
        print(f"job {job_id}", flush=True)
        if not args.wait:
            return ExitCode.OK
        state = client.wait_job(job_id, timeout=args.timeout)
        print(f"state {state}")
        if state == "success":
            print(json.dumps(client.get_job_output(job_id), indent=2))
            return ExitCode.OK
        error = client.get_job_error(job_id) if state in ("failure", "aborted") else ""
        if error:
            print(error)
        return ExitCode.FAILED
    except DahuError as exc:
        print(f"lab dahu submit: the server refused: {exc.message}", file=sys.stderr)
        return ExitCode.FAILED
    except (TimeoutError, OSError) as exc:
        serve = shlex.join(["lab", "dahu", "serve", "--transport", args.transport, "--host", args.host,
                            "--port", str(client.address[1])])
        print(f"lab dahu submit: no answer from {args.transport} {args.host}:{client.address[1]} ({exc}); "
              f"is a server running there? Start one on that machine with: {serve}", file=sys.stderr)
        return ExitCode.FAILED


def cmd_tango(args: argparse.Namespace) -> int:
    from . import tango_server

    executor = _prepare(args)
    tango_args = [args.instance]
    if args.nodb:
        if args.port is None:
            raise SystemExit("lab dahu tango: --nodb needs --port N")
        tango_args += ["-nodb", "-dlist", args.device or f"dau/dahu/{args.instance}"]
    if args.port is not None:
        tango_args += ["-port", str(args.port)]
    tango_args += list(args.tango_args)
    try:
        code = tango_server.main(tango_args, service=_service(args, executor), grace=args.grace,
                                 allow=args.allow)
    finally:
        executor.shutdown(wait=False)
    if code:
        exit_now(code)
    return code


def exit_now(code: int) -> None:
    """Exit although plugin threads still run (they ignored their abort; joining them would hang)."""
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_reprocess(args: argparse.Namespace) -> int:
    from .reprocess import run_cli

    executor = _prepare(args)
    try:
        return run_cli(args.files, executor, progress=not args.no_progress, as_json=args.json)
    finally:
        executor.shutdown(wait=True)


def cmd_plugins(args: argparse.Namespace) -> int:
    from .factory import plugin_factory

    for module in args.imports:
        importlib.import_module(module)
    rows = plugin_factory.describe()
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        print(f"{row['name'].ljust(width)}  {row['doc']}  [{row['source']}]")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from lab_core.cli import main

    sys.exit(main(["dahu", *sys.argv[1:]]))
