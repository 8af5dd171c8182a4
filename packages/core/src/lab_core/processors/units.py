"""The units ``convert`` knows: each is (dimension, factor, offset) with SI = (value + offset) · factor."""

from __future__ import annotations

_TORR = 101325.0 / 760.0

UNITS: dict[str, tuple[str, float, float]] = {
    # temperature (kelvin)
    "K": ("temperature", 1.0, 0.0), "mK": ("temperature", 1e-3, 0.0),
    "degC": ("temperature", 1.0, 273.15), "degF": ("temperature", 5.0 / 9.0, 459.67),
    # pressure (pascal)
    "Pa": ("pressure", 1.0, 0.0), "hPa": ("pressure", 1e2, 0.0), "kPa": ("pressure", 1e3, 0.0),
    "MPa": ("pressure", 1e6, 0.0), "mbar": ("pressure", 1e2, 0.0), "bar": ("pressure", 1e5, 0.0),
    "Torr": ("pressure", _TORR, 0.0), "mTorr": ("pressure", _TORR * 1e-3, 0.0),
    "atm": ("pressure", 101325.0, 0.0), "psi": ("pressure", 6894.757293168361, 0.0),
    # length (metre)
    "nm": ("length", 1e-9, 0.0), "um": ("length", 1e-6, 0.0), "mm": ("length", 1e-3, 0.0),
    "cm": ("length", 1e-2, 0.0), "m": ("length", 1.0, 0.0), "km": ("length", 1e3, 0.0),
    "in": ("length", 0.0254, 0.0), "ft": ("length", 0.3048, 0.0),
    # time (second)
    "us": ("time", 1e-6, 0.0), "ms": ("time", 1e-3, 0.0), "s": ("time", 1.0, 0.0),
    "min": ("time", 60.0, 0.0), "h": ("time", 3600.0, 0.0),
    # electrical
    "uV": ("voltage", 1e-6, 0.0), "mV": ("voltage", 1e-3, 0.0), "V": ("voltage", 1.0, 0.0),
    "kV": ("voltage", 1e3, 0.0),
    "nA": ("current", 1e-9, 0.0), "uA": ("current", 1e-6, 0.0), "mA": ("current", 1e-3, 0.0),
    "A": ("current", 1.0, 0.0),
    "mW": ("power", 1e-3, 0.0), "W": ("power", 1.0, 0.0), "kW": ("power", 1e3, 0.0),
    "MW": ("power", 1e6, 0.0),
    "Hz": ("frequency", 1.0, 0.0), "kHz": ("frequency", 1e3, 0.0), "MHz": ("frequency", 1e6, 0.0),
    # mass (kilogram)
    "mg": ("mass", 1e-6, 0.0), "g": ("mass", 1e-3, 0.0), "kg": ("mass", 1.0, 0.0),
    # ratio
    "%": ("ratio", 1e-2, 0.0), "ppm": ("ratio", 1e-6, 0.0), "1": ("ratio", 1.0, 0.0),
}


def linear_map(from_unit: str, to_unit: str) -> tuple[float, float]:
    """``(scale, offset)`` with ``to = from · scale + offset``; ValueError naming what is unknown."""
    for unit in (from_unit, to_unit):
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; known units: {', '.join(UNITS)}")
    (dim_a, fa, oa), (dim_b, fb, ob) = UNITS[from_unit], UNITS[to_unit]
    if dim_a != dim_b:
        raise ValueError(f"{from_unit!r} is a {dim_a} and {to_unit!r} a {dim_b}: they do not convert")
    scale = fa / fb
    return scale, oa * scale - ob
