"""``lab live``: the sub-command, its options, the plugin module's laziness, LiveConfig checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from lab_core.cli import main, make_parser
from lab_core.registry import default_registry
from lab_live import LiveConfig


def test_lab_live_is_a_sub_command():
    parser = make_parser(default_registry())
    args = parser.parse_args(["live", "--udp-port", "0", "--pull", "a:9000,b", "--pull", "[::1]:9001",
                              "--poll-interval", "0.5", "--stale-after", "5", "--http-port", "0"])
    assert args.udp_port == 0 and args.pull == ["a:9000,b", "[::1]:9001"]
    assert args.poll_interval == 0.5 and args.stale_after == 5 and args.http_host == "127.0.0.1"
    assert callable(args.func)


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["live", "--help"])
    out = capsys.readouterr().out
    for option in ("--udp-host", "--udp-port", "--pull", "--poll-interval", "--stale-after", "--http-host",
                   "--http-port", "--history", "--no-udp", "--client-timeout"):
        assert option in out


def test_the_plugin_module_and_the_parser_import_nothing_heavy():
    code = ("import sys, argparse, lab_live.plugin as p; "
            "print(','.join(sorted(m for m in sys.modules if m.startswith('lab_live')))); "
            "p.lab_subcommands(argparse.ArgumentParser().add_subparsers()); "
            "print(','.join(sorted(m for m in sys.modules if m.startswith('lab_live')))); "
            "print('http.server' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["lab_live,lab_live.plugin", "lab_live,lab_live.cli,lab_live.plugin,lab_live.protocol", "False"]


@pytest.mark.parametrize("argv, words", [
    (["live", "--no-udp"], "nothing to show"),
    (["live", "--pull", "host:notaport", "--http-port", "0"], "not a number"),
    (["live", "--stale-after", "0", "--http-port", "0"], "stale_after must be > 0"),
    (["live", "--udp-port", "70000"], "udp_port must be 0..65535"),
])
def test_user_errors_are_reported_not_raised(argv, words, capsys):
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_a_busy_port_is_a_clear_error(capsys):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert main(["live", "--udp-host", "127.0.0.1", "--udp-port", str(port), "--http-port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"udp 127.0.0.1:{port}" in err and "--udp-port" in err


def test_lab_live_runs_prints_its_url_and_stops_on_sigint():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lab_core.cli", "live", "--udp-host", "127.0.0.1",
                             "--udp-port", "0", "--http-port", "0", "--title", "bench"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("lab live: dashboard at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        assert "LiveSocket datagrams on udp 127.0.0.1:" in line
        with urllib.request.urlopen(url + "api/values", timeout=10) as response:
            assert json.loads(response.read())["title"] == "bench"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_config_accepts_addresses_in_every_form():
    config = LiveConfig(pull=["a:9001,b", ("c", 9002)])
    assert config.pull == (("a", 9001), ("b", 9000), ("c", 9002))
    with pytest.raises(ValueError, match="history"):
        LiveConfig(history=0)


def test_units_and_descriptions_come_from_a_lab_configuration_and_unit_options(tmp_path):
    from lab_live.cli import meta_of

    config = tmp_path / "lab.toml"
    config.write_text('[readers.demo]\n[writers.null]\n[[contexts]]\nid = 1\n[[contexts.variables]]\n'
                      'id = 1\ncodename = "oven_t"\nreader = "demo"\naddress = "sine"\nunit = "K"\n'
                      'description = "Oven"\n')
    assert meta_of(str(config), ["oven_t=degC", "flow=sccm"]) == {
        "oven_t": {"unit": "degC", "description": "Oven"}, "flow": {"unit": "sccm"}}
    from lab_core import ConfigError

    with pytest.raises(ConfigError, match="--unit 'flow' is not CODENAME=UNIT"):
        meta_of(None, ["flow"])
