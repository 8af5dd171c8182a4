"""The serial-line reader over a socat pty pair, against the TPG-like gauge (request/ACK/ENQ) and a
plain request -> line device."""

from __future__ import annotations

import pytest
from scpi_helpers import variables

from lab_scpi.serial_line import SerialLineReader

TPG = {"request": "{query}\r\n", "ack": "\u0006\r\n", "enquiry": "\u0005", "reply": "{value}\r\n"}


@pytest.fixture
def make_line_reader(serial_pair):
    readers = []

    def make(**options):
        options.setdefault("timeout_s", 0.5)
        reader = SerialLineReader(serial_pair.client, baudrate=9600, **options)
        readers.append(reader)
        reader.open()
        return reader

    yield make
    for reader in readers:
        reader.close()


def test_tpg_request_ack_enquiry(gauge, make_line_reader):
    reader = make_line_reader(**TPG)
    vs = variables("PR1|status=0:0|field=1", "PR1|field=0|int", "PRX|field=3", "PR2|status=0:0|field=1")
    pressure, status, gauge2, missing = reader.read(vs)
    assert 0.9e-5 < pressure.value < 1.6e-5 and status.value == 0 and gauge2.value == 0.0
    assert "status field 0 of reply '5,0.0000E+00' is '5'" in missing.error
    assert reader.exchanges == 3  # PR1 asked once for both of its variables
    assert gauge.gauge.exchanges == 3


def test_tpg_refused_mnemonic(gauge, make_line_reader):
    reader = make_line_reader(**TPG)
    bad, good = reader.read(variables("PR9|field=1", "PR1|field=1"))
    assert "refused 'PR9' (negative acknowledge" in bad.error
    assert good.error is None


def test_plain_request_line_device(gauge, make_line_reader):
    reader = make_line_reader(request="{query}\r", reply="{value}\r\n")
    (temperature,) = reader.read(variables("T?"))
    assert 21.0 < temperature.value < 22.0


def test_reply_template_prefix(gauge, make_line_reader):
    reader = make_line_reader(request="{query}\r", reply="+{value}\r\n")
    (temperature,) = reader.read(variables("T?"))
    assert 21.0 < temperature.value < 22.0  # the sign was the template's
    reader = make_line_reader(request="{query}\r", reply="T={value}\r\n")
    (temperature,) = reader.read(variables("T?"))
    assert "does not start with 'T='" in temperature.error


def test_silent_device_costs_one_timeout_per_scan(serial_pair, make_line_reader):
    reader = make_line_reader(**TPG, timeout_s=0.2)  # nothing on the device end
    samples = reader.read(variables("PR1|field=1", "PR2|field=1", "PRX|field=1"))
    assert all("no acknowledge" in s.error for s in samples)
    assert reader.exchanges == 1  # the rest of the scan was skipped


def test_port_pulled_out_and_back(serial_pair, make_line_reader):
    from lab_scpi.simulator import SerialGauge

    reader = make_line_reader(**TPG)
    vs = variables("PR1|status=0:0|field=1")
    with SerialGauge(serial_pair.device):
        assert reader.read(vs)[0].error is None
    serial_pair.stop()
    assert reader.read(vs)[0].error
    assert "cannot open" in reader.read(vs)[0].error
    serial_pair.start()
    with SerialGauge(serial_pair.device):
        assert reader.read(vs)[0].error is None


@pytest.mark.parametrize("options, message", [
    ({"port": ""}, "give the serial port"),
    ({"parity": "X"}, "parity must be"),
    ({"request": "PR1\r\n"}, "has no {query}"),
    ({"reply": "{value}"}, "followed by what ends the answer"),
    ({"reply": "\r\n"}, "put {value} where the value is"),
    ({"encoding": "klingon"}, "encoding 'klingon' is unknown"),
    ({"timeout_s": -1}, "timeout_s must be"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        SerialLineReader(**{"port": "/dev/ttyUSB0", **options})


def test_lab_scpi_simulate_serves_the_gauge(serial_pair, make_line_reader):
    import subprocess

    from scpi_helpers import LAB

    process = subprocess.Popen([LAB, "scpi", "simulate", "--serial", serial_pair.device, "--duration", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "TPG-like gauge on" in process.stdout.readline()
        (pressure,) = make_line_reader(**TPG).read(variables("PR1|status=0:0|field=1"))
        assert 0.9e-5 < pressure.value < 1.6e-5, pressure.error
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
