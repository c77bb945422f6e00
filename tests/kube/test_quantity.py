from __future__ import annotations

import pytest

from taichu.kube.quantity import byte_count, cpu_cores


@pytest.mark.parametrize(
    ("value", "cores"), [("4", 4.0), ("500m", 0.5), ("250000u", 0.25), (2, 2.0), (None, 0.0)]
)
def test_cpu(value: object, cores: float) -> None:
    assert cpu_cores(value) == cores  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("16Gi", 16 * 2**30),
        ("1000k", 10**6),
        ("1e3", 1000),
        ("128974848", 128974848),
        ("129M", 129 * 10**6),
        ("1.5Ki", 1536),
    ],
)
def test_bytes(value: str, size: int) -> None:
    assert byte_count(value) == size


def test_invalid() -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        byte_count("12XY")
