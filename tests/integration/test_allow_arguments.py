"""Every command-line ``--allow``-style option refuses a bad network with a usage error, not a traceback."""

from __future__ import annotations

import pytest

from lab_core.cli import main


@pytest.mark.parametrize("argv", [
    ["dahu", "serve", "--allow", "foo"],
    ["dahu", "tango", "x", "--nodb", "--port", "1", "--allow", "foo"],
    ["live", "--udp-allow", "foo"],
    ["live", "--http-allow", "foo"],
    ["modbus", "simulate", "--allow", "foo"],
    ["scpi", "simulate", "--allow", "foo"],
])
def test_a_bad_network_is_a_usage_error_saying_what_to_write(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'foo' is not a network or an address; write e.g. \"10.0.0.0/8\"" in err
    assert "Traceback" not in err and "ValueError" not in err
