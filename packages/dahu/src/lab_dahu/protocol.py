"""The job server's wire protocol, without I/O: request bytes in, reply bytes out.

In the spirit of lab-sockets' push protocol (``json_wn#{...}`` → ``ACK#``/``RET#``/``ERROR#``)::

    request:  json_wn#{"command": "startJob", "plugin": "example.square", "input": {"x": 3}}
    reply:    RET#42

A request is ``json_wn#`` followed by a JSON object: ``command`` (one of
:data:`COMMANDS`) and that command's arguments by name. Replies:

* ``RET#<json>`` — the command's result as JSON (a number, string, object, list, null);
* ``ERROR#<message>`` — the request was wrong (not ``json_wn#``, bad JSON, unknown
  command or argument, wrong type, unknown job id); the message says what to fix;
* ``EXCEP#<message>`` — the command failed on the server side (a bug); the server
  keeps serving.

Commands and their arguments (``?`` = optional):

================== ============================== =========================================
command            arguments                      result
================== ============================== =========================================
startJob           plugin, input (object|string)  job id (int), -1 if input is blank
abort              job_id                         true if the job was stopped
getJobState        job_id                         state string (``inexistant`` if unknown)
waitJob            job_id, timeout?               state after waiting (bounded by the server)
initPlugin         plugin                         message string
cleanJob           job_id                         message string
getJobOutput       job_id                         output object
getJobInput        job_id                         input object
getJobError        job_id                         error text
collectStatistics  –                              null (collection starts)
getStatistics      –                              statistics text
listPlugins        –                              [{"name", "source", "doc"}]
commands           –                              {command: [argument, …]}
================== ============================== =========================================

Negative job ids count back from the last job (-1 is the last one).

``waitJob`` waits at most ``timeout`` seconds (default and upper bound: the
server's ``max_wait``) and answers the job's state then. On a transport whose
peers can reply later (lab-sockets' ``udp``), the reply is sent when the job
ends or the time is up, without holding up other requests (the service
arranges it: :meth:`~lab_dahu.service.JobService.when_over`); elsewhere
(``tcp``) the request's own connection waits.

This module does no I/O and keeps no state: :class:`DahuProtocol` turns a
request into a call of its service's command and the result into reply bytes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lab_core import LabError

from .errors import BadRequest, UnknownJob
from .persistence import jsonable

log = logging.getLogger(__name__)

PREFIX = b"json_wn#"
RET = b"RET#"
ERROR = b"ERROR#"
EXCEP = b"EXCEP#"

#: command -> (required arguments, optional arguments)
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "startJob": (("plugin", "input"), ()),
    "abort": (("job_id",), ()),
    "getJobState": (("job_id",), ()),
    "waitJob": (("job_id",), ("timeout",)),
    "initPlugin": (("plugin",), ()),
    "cleanJob": (("job_id",), ()),
    "getJobOutput": (("job_id",), ()),
    "getJobInput": (("job_id",), ()),
    "getJobError": (("job_id",), ()),
    "collectStatistics": ((), ()),
    "getStatistics": ((), ()),
    "listPlugins": ((), ()),
    "commands": ((), ()),
}
#: the most a UDP datagram can carry
UDP_MAX = 65507


def encode_request(command: str, **arguments: Any) -> bytes:
    """The request bytes for ``command`` (used by the client; handy in scripts)."""
    return PREFIX + json.dumps({"command": command, **arguments}, default=jsonable).encode("utf-8")


def decode_reply(reply: bytes) -> tuple[str, Any]:
    """``("RET", value)``, ``("ERROR", message)`` or ``("EXCEP", message)``."""
    for tag in (RET, ERROR, EXCEP):
        if reply.startswith(tag):
            body = reply[len(tag):].decode("utf-8", "replace")
            if tag == RET:
                return "RET", json.loads(body) if body else None
            return tag[:-1].decode(), body
    raise ValueError(f"not a lab-dahu reply: {reply[:80]!r}")


def _check(name: str, value: Any) -> None:
    if name == "job_id" and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"job_id must be an integer, not {value!r}")
    if name == "plugin" and not isinstance(value, str):
        raise BadRequest(f"plugin must be a string such as 'example.square', not {value!r}")
    if name == "input" and not isinstance(value, (dict, str)):
        raise BadRequest(f"input must be a JSON object (or a string holding one), not {value!r}")
    if name == "timeout" and value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise BadRequest(f"timeout must be a number of seconds >= 0 or null, not {value!r}")


class DahuProtocol:
    """``protocol(request, peer) -> reply``: a transport handler driving a job service
    (:class:`~lab_dahu.service.JobService`: an object with dahu's commands as methods).

    ``max_reply``: replies longer than this many bytes become an ``ERROR#`` that
    says so (UDP carries at most 65507 bytes).
    """

    def __init__(self, service: Any, max_reply: int | None = None):
        self.service = service
        self.max_reply = max_reply

    def __call__(self, request: bytes, peer: Any = None) -> bytes:
        return self.handle(request, peer)

    def handle(self, request: bytes, peer: Any = None) -> bytes | None:
        try:
            command, arguments = self.parse(request)
            if (command == "waitJob" and callable(getattr(peer, "reply", None))
                    and self._wait_later(arguments, peer)):
                return None  # the reply goes out when the job ends or the time is up
            result = self.execute(command, arguments)
            reply = self.ret(result)
        except (BadRequest, UnknownJob) as exc:
            reply = ERROR + str(exc).encode("utf-8")
        except (LabError, ValueError, TypeError) as exc:
            reply = ERROR + str(exc).encode("utf-8")
        except Exception as exc:  # nothing a client sends may take the server down
            log.exception("command from %s failed", peer)
            reply = EXCEP + f"{type(exc).__name__}: {exc}".encode()
        limit = getattr(peer, "max_reply", None) or self.max_reply
        if limit is not None and len(reply) > limit:
            reply = ERROR + (f"the reply ({len(reply)} bytes) is larger than this transport carries "
                             f"({limit} bytes); use the tcp transport, or read the job's "
                             f".out file from the server's work directory").encode()
        return reply

    @staticmethod
    def ret(result: Any) -> bytes:
        return RET + json.dumps(result, default=jsonable, allow_nan=True).encode("utf-8")

    def _wait_later(self, arguments: dict[str, Any], peer: Any) -> bool:
        """Have the service answer this ``waitJob`` later; False when the answer is due now."""
        return self.service.when_over(arguments["job_id"], arguments.get("timeout"),
                                      lambda state: peer.reply(self.ret(state)))

    @staticmethod
    def parse(request: bytes) -> tuple[str, dict[str, Any]]:
        if not request.startswith(PREFIX):
            raise BadRequest(f"a request is json_wn#{{\"command\": ...}}; this one starts with {request[:20]!r}")
        try:
            data = json.loads(request[len(PREFIX):].decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the request after json_wn# is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"the request after json_wn# must be a JSON object, not {type(data).__name__}")
        command = data.pop("command", None)
        if command not in COMMANDS:
            raise BadRequest(f"unknown command {command!r}; commands are {', '.join(COMMANDS)}")
        required, optional = COMMANDS[command]
        missing = [name for name in required if name not in data]
        unknown = [name for name in data if name not in required + optional]
        if missing or unknown:
            raise BadRequest(f"{command} takes {', '.join(required + optional) or 'no arguments'}"
                             + (f"; missing: {', '.join(missing)}" if missing else "")
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        for name, value in data.items():
            _check(name, value)
        return command, data

    def execute(self, command: str, arguments: dict[str, Any]) -> Any:
        if command == "commands":
            return {name: list(req + opt) for name, (req, opt) in COMMANDS.items()}
        return getattr(self.service, command)(**arguments)
