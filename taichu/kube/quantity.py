"""Kubernetes resource quantities ("500m", "16Gi", "1e3") as numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: str | int | float | None) -> Decimal:
    """The quantity's value in base units (cores, bytes); 0 for a missing value."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = value.strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    suffix = text[-1] if text and text[-1] in "numkMGTPE" else ""
    # "1e3" is scientific notation, not the "E" (exa) suffix; lower-case e never is a suffix.
    number = text[: -len(suffix)] if suffix else text
    return _number(number, value) * _DECIMAL[suffix]


def _number(text: str, original: object) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as e:
        raise ValueError(f"invalid quantity {original!r}") from e


def cpu_cores(value: str | int | float | None) -> float:
    return float(parse_quantity(value))


def byte_count(value: str | int | float | None) -> int:
    return int(parse_quantity(value))
