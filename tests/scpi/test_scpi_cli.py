"""`lab scpi query`, `lab scpi simulate`, and end to end: simulator -> `lab run` -> sqlite."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys

from scpi_helpers import LAB

from lab_core import Registry


def lab(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([LAB, *args], capture_output=True, text=True, timeout=timeout)


def test_query(sim):
    done = lab("scpi", "query", sim.resource, "*IDN?", "OUTP ON", "OUTP?", "MEAS:VOLT?;:MEAS:CURR?")
    assert done.returncode == 0, done.stderr
    idn, output, joined = done.stdout.splitlines()
    assert idn == "LAB,SIM-DMM,0001,1.0" and output == "1"
    volt, curr = joined.split(";")
    assert 0.7 < float(volt) < 1.3 and 0.01 < float(curr) < 0.015


def test_query_shows_instrument_errors(sim):
    done = lab("scpi", "query", sim.resource, "OUTP MAYBE")
    assert done.returncode == 1
    assert 'instrument error -224,"Illegal parameter value"' in done.stderr


def test_query_unreachable_and_bad_resource():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    done = lab("scpi", "query", f"TCPIP0::127.0.0.1::{port}::SOCKET", "*IDN?")
    assert done.returncode == 1 and "cannot open" in done.stderr and "Traceback" not in done.stderr
    done = lab("scpi", "query", "FOO", "*IDN?")
    assert done.returncode == 2 and "resource 'FOO' is not a VISA resource name" in done.stderr


def test_simulate_refuses_clients_outside_allow(sim_process):
    process = subprocess.Popen([LAB, "scpi", "simulate", "--port", "0", "--allow", "10.0.0.0/8"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = next(int(line.split()[1]) for line in process.stdout if line.startswith("port "))
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"*IDN?\n")
            assert conn.recv(100) == b""  # closed without a word
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def test_listing_and_the_cli_parser_do_not_import_pyvisa():
    code = ("import sys\n"
            "from lab_core.cli import make_parser\n"
            "from lab_core import Registry\n"
            "r = Registry()\n"
            "r.load(); names = r.components('reader')\n"
            "make_parser(r)\n"
            "assert 'scpi' in names and 'serial-line' in names, sorted(names)\n"
            "assert not {'pyvisa', 'serial', 'lab_scpi.reader'} & set(sys.modules), 'imported'\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert Registry().get_class("reader", "scpi").__name__ == "ScpiReader"


def test_simulator_to_lab_run_to_sqlite(sim_process, tmp_path):
    process = sim_process()
    db = tmp_path / "lab.sqlite"
    config = tmp_path / "bench.toml"
    config.write_text(f'''
[readers.dmm]
plugin = "scpi"
resource = "{process.resource}"
idn = "SIM-DMM"
init = ["*RST", "OUTP ON"]
timeout_s = 1.0

[writers.db]
plugin = "sqlite"
path = "{db}"
setup = "bench"

[[contexts]]
id = 1
default_interval_ms = 100
variables = [
  {{ id = 1, codename = "dmm_volt", reader = "dmm", address = "MEAS:VOLT?" }},
  {{ id = 2, codename = "dmm_curr_ma", reader = "dmm", address = "MEAS:CURR?|scale=1e3" }},
  {{ id = 3, codename = "dmm_ch2", reader = "dmm", address = "SENS:DATA?|field=1" }},
  {{ id = 4, codename = "dmm_output", reader = "dmm", address = "OUTP?|bool", type = "int" }},
  {{ id = 5, codename = "dmm_bogus", reader = "dmm", address = "BOGUS?" }},
]
''')
    done = lab("run", str(config), "--duration", "2")
    assert done.returncode in (0, 1), done.stderr  # dmm_bogus gives error samples
    with sqlite3.connect(db) as con:
        rows: dict[str, list[float]] = {}
        for codename, value in con.execute("SELECT d.codename, t.value FROM dateplots_bench t "
                                           "JOIN dateplots_descriptions d ON d.id = t.type ORDER BY t.time"):
            rows.setdefault(codename, []).append(value)
    assert set(rows) == {"dmm_volt", "dmm_curr_ma", "dmm_ch2", "dmm_output"}  # errors are not stored
    assert len(rows["dmm_volt"]) >= 10 and len(set(rows["dmm_volt"])) > 1  # readings move
    assert all(0.7 < v < 1.3 for v in rows["dmm_volt"]) and all(11 < v < 13.6 for v in rows["dmm_curr_ma"])
    assert all(1.8 < v < 2.2 for v in rows["dmm_ch2"]) and set(rows["dmm_output"]) == {1.0}
