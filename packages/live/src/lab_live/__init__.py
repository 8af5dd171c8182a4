"""lab-live: a live web dashboard for LiveSocket datagrams and PyExpLabSys pull sockets.

``lab live`` on the command line; ``LiveServer`` from Python::

    from lab_live import LiveServer
    with LiveServer(udp_port=9767, pull=["rasppi42:9000"], http_port=0) as server:
        print(server.url)
"""

__version__ = "1.0.0"

from .server import LiveConfig, LiveServer  # noqa: E402

__all__ = ["LiveConfig", "LiveServer", "__version__"]
