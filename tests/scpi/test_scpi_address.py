"""Addresses (query + parse options) and SCPI message text, without I/O."""

from __future__ import annotations

import pytest

from lab_scpi.address import ReplyError, parse_address
from lab_scpi.protocol import InstrumentError, error_entry, join, split


@pytest.mark.parametrize("address, reply, default, expected", [
    ("MEAS:VOLT?", "+1.25000000E+00", "float", 1.25),
    ("MEAS:VOLT?|float", "+1.25E+00", "int", 1.25),  # the option beats the variable's type
    ("DATA:POIN?|int", "42", "float", 42),
    ("DATA:POIN?|int", "+4.2000E+01", "float", 42),  # NR3 that is a whole number
    ("DATA:POIN?", "123456789012345678901", "int", 123456789012345678901),  # exact past 2**53
    ("OUTP?|bool", "1", "float", True),
    ("OUTP?|bool", "OFF", "float", False),
    ("OUTP?", "on", "bool", True),
    ("OUTP?|bool", "+0.0E+00", "float", False),
    ("*IDN?|str", "LAB,SIM-DMM,0001,1.0", "float", "LAB,SIM-DMM,0001,1.0"),
    ('SYST:NAME?|str', '"bench 3"', "float", "bench 3"),  # SCPI string quotes removed
    ("SENS:DATA?|field=2", "1.0,2.0,3.5,4.0", "float", 3.5),
    ("SENS:DATA?|field=0", "1.0,2.0,3.5,4.0", "float", 1.0),
    ("SENS:DATA?|field=-1", "1.0,2.0,3.5,4.0", "float", 4.0),
    ("SYST:TIME?|field=1|sep=:|int", "12:34:56", "float", 34),
    ("*IDN?|str|re=,([\\w-]+),", "LAB,SIM-DMM,0001,1.0", "float", "SIM-DMM"),
    ("*IDN?|re=(\\d+\\.\\d+)$", "LAB,SIM-DMM,0001,1.0", "str", "1.0"),
    ("*IDN?|str|re=SIM|LAB", "LAB,SIM-DMM,0001,1.0", "float", "LAB"),  # '|' belongs to the pattern
    ("*IDN?|str|group=v|re=,(?P<m>\\w+)-(?P<v>\\w+),", "LAB,SIM-DMM,0001,1.0", "float", "DMM"),
    ("*IDN?|group=2|re=(\\w+),(\\w+)", "LAB,7,0001,1.0", "float", 7.0),
    ("MEAS:CURR?|scale=1e3", "+1.23E-02", "float", pytest.approx(12.3)),
    ("MEAS:TEMP?|offset=-273.15", "300", "float", pytest.approx(26.85)),
    ("MEAS:TEMP?|scale=2|offset=1", "3", "float", 7.0),  # scale, then offset
    ("PR1|status=0:0|field=1", "0,1.0E-05", "float", 1e-5),
    ("PR1|status=0:0/1|field=1", "1,1.0E-05", "float", 1e-5),
    ("SENS:DATA?|field=1|int|scale=10|re=(\\d)\\d", "x,73,y", "float", 70.0),
])
def test_parse_options(address, reply, default, expected):
    assert parse_address(address).value(reply, default) == expected


@pytest.mark.parametrize("address, reply, message", [
    ("MEAS:VOLT?", "abc", "'abc' is not a number"),
    ("DATA:POIN?|int", "1.5", "not a whole number"),
    ("MEAS:VOLT?", "+9.90000000E+37", "overload"),
    ("MEAS:VOLT?", "-9.9E37", "overload"),
    ("MEAS:VOLT?", "9.91E37", "not a number"),
    ("SENS:DATA?|field=7", "1,2,3", "has 3 field"),
    ("*IDN?|re=^XYZ", "LAB,SIM", "does not match"),
    ("PR2|status=0:0|field=1", "5,0.0000E+00", "status field 0 of reply .* is '5', not '0'"),
])
def test_replies_that_give_no_value(address, reply, message):
    with pytest.raises(ReplyError, match=message):
        parse_address(address).value(reply, "float")


@pytest.mark.parametrize("address, message", [
    ("", "the query is empty"),
    ("|int", "the query is empty"),
    ("MEAS:VOLT?;:MEAS:CURR?", "give each query its own variable"),
    ("MEAS:VOLT?|colour=red", "option 'colour' is unknown"),
    ("MEAS:VOLT?|field", "needs a value, e.g. '|field=1'"),
    ("MEAS:VOLT?|field=x", "field=x: expected a whole number"),
    ("MEAS:VOLT?|scale=lots", "scale=lots: expected a number"),
    ("MEAS:VOLT?|scale=inf", "finite"),
    ("MEAS:VOLT?|int=3", "takes no value"),
    ("MEAS:VOLT?|int|float", "two types"),
    ("MEAS:VOLT?|re=(", "not a regular expression"),
    ("MEAS:VOLT?|group=1", "needs re=PATTERN"),
    ("MEAS:VOLT?|group=2|re=(a)", "has 1 group"),
    ("PR1|status=0", "expected FIELD:OK"),
])
def test_bad_addresses(address, message):
    with pytest.raises(ValueError, match=message):
        parse_address(address)


def test_join_and_split():
    assert join(["MEAS:VOLT?", ":MEAS:CURR?"]) == "MEAS:VOLT?;:MEAS:CURR?"
    assert join(["MEAS:VOLT?", "MEAS:CURR?"], "SYST:ERR?") == "*OPC?;:MEAS:VOLT?;:MEAS:CURR?;:SYST:ERR?"
    assert split('1;+1.0E+00; "a;b" ;+0,"No error"') == ["1", "+1.0E+00", '"a;b"', '+0,"No error"']
    assert split("") == []
    assert split("5") == ["5"]


def test_error_entries():
    assert error_entry('+0,"No error"') == InstrumentError(0, "No error")
    assert error_entry('-113,"Undefined header; BOGUS?"') == InstrumentError(-113, "Undefined header; BOGUS?")
    assert str(InstrumentError(-222, "Data out of range")) == '-222,"Data out of range"'
    assert error_entry("+1.0E+00") is None
    assert error_entry("1,2") is None
