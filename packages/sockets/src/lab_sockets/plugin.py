"""lab-sockets's hook implementations: names only, every class is imported when first used."""

from lab_core import hookimpl


@hookimpl
def lab_transports():
    return {
        "udp": "lab_sockets.transports.udp:UdpTransport",
        "tcp": "lab_sockets.transports.tcp:TcpTransport",
    }


@hookimpl
def lab_readers():
    return {"socket": "lab_sockets.collect:SocketReader"}


@hookimpl
def lab_writers():
    return {"socket": "lab_sockets.collect:SocketWriter"}


@hookimpl
def lab_subcommands(subparsers):
    from .cli import add_subcommands  # argparse only; the client is imported when a command runs

    add_subcommands(subparsers)
