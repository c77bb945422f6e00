"""Pure logic of the traffic domain: counters, caps, histograms, detectors, TTLs, parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taichu.errors import BadRequest
from taichu.traffic import detectors
from taichu.traffic.addresses import ip_key, key_range
from taichu.traffic.detection import block_ttl
from taichu.traffic.routes import parse_time
from taichu.traffic.sampler import OTHER, Request, Sampler, percentile_ms
from taichu.traffic.settings import AnomalySettings
from taichu.traffic.store import Merged, merge, rows_of

T0 = 1_800_000_000.0  # a window boundary for 60 s windows (divisible by 60)


def _req(ip: str = "10.0.0.1", status: int = 200, **kw: object) -> Request:
    values: dict[str, object] = {"ip": ip, "status": status, "path": "/api/x", "seconds": 0.004}
    values.update(kw)
    return Request(**values)  # type: ignore[arg-type]


def test_counts_per_address_and_window_by_status_class() -> None:
    s = Sampler(60, 100, 10)
    for status in (200, 201, 401, 403, 404, 500, 302):
        s.record(_req(status=status, bytes_in=3, bytes_out=5), now=T0 + 1)
    s.record(_req(ip="10.0.0.2"), now=T0 + 2)
    s.record(_req(), now=T0 + 61)  # the next window
    closed = s.take_closed(now=T0 + 61)
    assert list(closed) == [int(T0 // 60)]
    c = closed[int(T0 // 60)]["10.0.0.1"]
    assert (c.requests, c.status_2xx, c.status_4xx, c.status_5xx) == (7, 2, 3, 1)
    assert (c.status_401, c.status_403, c.status_404) == (1, 1, 1)
    assert (c.bytes_in, c.bytes_out) == (21, 35)
    assert closed[int(T0 // 60)]["10.0.0.2"].requests == 1
    assert s.take_closed(now=T0 + 61) == {}  # the current window stays
    assert list(s.take_all()) == [int(T0 // 60) + 1]


def test_blocked_requests_are_counted_but_never_evidence() -> None:
    s = Sampler(60, 100, 10)
    for i in range(5):
        s.record(_req(status=403, blocked=True, path=f"/p{i}", login_failure="admin"), now=T0)
    c = s.take_all()[int(T0 // 60)]["10.0.0.1"]
    assert (c.requests, c.blocked, c.status_403, c.status_4xx, c.login_failures) == (5, 5, 0, 0, 0)
    assert not c.missing_paths and not c.usernames


def test_memory_is_bounded_per_window() -> None:
    s = Sampler(60, max_addresses=3, max_distinct=4)
    for i in range(10):
        s.record(_req(ip=f"10.0.1.{i}"), now=T0)
    for i in range(50):
        s.record(
            _req(status=404, path=f"/scan/{i}" + "x" * 500, login_failure=f"user{i}", user=f"u{i}"),
            now=T0,
        )
    window = s.take_all()[int(T0 // 60)]
    assert set(window) == {"10.0.1.0", "10.0.1.1", "10.0.1.2", OTHER}
    assert window[OTHER].requests == 57  # 7 more addresses + the 50 of 10.0.0.1 past the cap
    assert len(window[OTHER].missing_paths) == 4 and len(window[OTHER].usernames) == 4
    assert all(len(p) <= 200 for p in window[OTHER].missing_paths)
    assert window[OTHER].login_failures == 50  # counts stay exact past the distinct cap


def test_latency_percentiles_from_fixed_buckets_merge_exactly() -> None:
    a = Sampler(60, 10, 10)
    b = Sampler(60, 10, 10)
    for _ in range(98):
        a.record(_req(seconds=0.004), now=T0)
    for _ in range(2):
        b.record(_req(seconds=0.9), now=T0)
    rows = rows_of(a.take_all(), 60, "r1") + rows_of(b.take_all(), 60, "r2")

    class Row:
        def __init__(self, values: dict[str, object]) -> None:
            self.__dict__.update(values)

    merged = merge([Row(r) for r in rows])  # type: ignore[misc]
    (sample,) = merged.values()
    assert sample.counts["requests"] == 100 and sample.replicas == 2
    assert percentile_ms(sample.latency, 0.5) == 5.0
    assert percentile_ms(sample.latency, 0.99) == 1000.0
    assert percentile_ms([0] * len(sample.latency), 0.5) is None


def _merged(ip: str = "10.0.0.9", **counts: int) -> Merged:
    m = Merged(datetime(2026, 1, 1, tzinfo=UTC), ip, 60)
    m.counts.update(counts)
    return m


def test_detectors_fire_at_their_thresholds_only() -> None:
    rules = AnomalySettings(brute_force_failures=5, scanning_paths=3, stuffing_usernames=3)
    quiet = _merged(requests=50, status_2xx=50, login_failures=4)
    quiet.missing_paths = {"/a", "/b"}
    assert detectors.per_address(quiet, rules) == []
    loud = _merged(requests=50, login_failures=5)
    loud.usernames = {"a": 2, "b": 2, "c": 1}
    loud.missing_paths = {"/a", "/b", "/c"}
    fired = {f.detector: f for f in detectors.per_address(loud, rules)}
    assert set(fired) == {"brute_force", "credential_stuffing", "scanning"}
    assert fired["brute_force"].score == 1.0 and fired["brute_force"].addresses == ("10.0.0.9",)
    assert fired["scanning"].evidence["paths"] == ["/a", "/b", "/c"]


def test_brute_force_per_username_adds_up_addresses() -> None:
    rules = AnomalySettings(brute_force_user_failures=6)
    samples = []
    for i in range(3):
        m = _merged(ip=f"10.0.0.{i}")
        m.usernames = {"alice": 2}
        samples.append(m)
    (finding,) = detectors.per_username(samples, rules)
    assert finding.subject == "user:alice" and finding.evidence["login_failures"] == 6
    assert finding.addresses == ("10.0.0.0", "10.0.0.1", "10.0.0.2")


def test_rate_spike_uses_median_and_mad_above_an_absolute_floor() -> None:
    rules = AnomalySettings(rate_floor=100, rate_mad_factor=6)
    new_address = _merged(requests=99)
    assert detectors.rate_spike(new_address, [], rules) is None  # below the floor
    assert detectors.rate_spike(_merged(requests=101), [], rules) is not None
    busy_history = [1000 + (i % 7) * 10 for i in range(100)]  # median 1030, MAD 20
    threshold, mid, mad = detectors.spike_threshold(busy_history, rules)
    assert (mid, mad) == (1030.0, 20.0) and threshold == pytest.approx(1030 + 6 * 20 * 1.4826)
    assert detectors.rate_spike(_merged(requests=1150), busy_history, rules) is None
    spike = detectors.rate_spike(_merged(requests=5000), busy_history, rules)
    assert spike is not None and spike.evidence["baseline_windows"] == 100
    blocked = _merged(requests=5000, blocked=4950)  # refusals do not make a spike
    assert detectors.rate_spike(blocked, busy_history, rules) is None


def test_block_ttl_doubles_per_offence_up_to_the_cap() -> None:
    rules = AnomalySettings(block_ttl_seconds=60, block_ttl_max_seconds=500)
    assert [block_ttl(n, rules).total_seconds() for n in range(5)] == [60, 120, 240, 480, 500]
    assert block_ttl(1000, rules) == timedelta(seconds=500)


def test_times_are_dates_or_rfc3339() -> None:
    assert parse_time("2026-01-08", "end", end_of_day=True) == datetime(2026, 1, 9, tzinfo=UTC)
    assert parse_time("2026-01-08", "start") == datetime(2026, 1, 8, tzinfo=UTC)
    assert parse_time("2026-01-08T10:00:00+02:00", "start") == datetime(2026, 1, 8, 8, tzinfo=UTC)
    assert parse_time("2026-01-08T10:00:00.123456789Z", "start") is not None
    for bad in ("yesterday", "2026-13-01", "2026-01-08T10:00:00", "1767225600", ""):
        with pytest.raises(BadRequest) as e:
            parse_time(bad, "start")
        assert e.value.message.startswith("start:")


def test_addresses_and_cidrs_are_key_ranges() -> None:
    low, high = key_range("127.0.0.0/24", "ip")
    assert low <= ip_key("127.0.0.5") <= high
    assert not low <= ip_key("127.0.1.5") <= high
    assert key_range("10.0.0.1", "ip") == (ip_key("10.0.0.1"),) * 2
    v6_low, v6_high = key_range("2001:db8::/64", "ip")
    assert v6_low <= ip_key("2001:db8::1") <= v6_high
    assert ip_key(OTHER) == "" and not low <= "" <= high
    with pytest.raises(BadRequest) as e:
        key_range("10.0.0.300", "ip")
    assert e.value.message.startswith("ip:")


def test_windows_whose_write_failed_are_kept_bounded() -> None:
    s = Sampler(60, 100, 10)
    for minute in range(5):
        s.record(_req(), now=T0 + 60 * minute)
    taken = s.take_closed(now=T0 + 60 * 5)
    assert len(taken) == 5
    s.record(_req(), now=T0 + 60 * 4 + 1)  # new counts of a window being written
    dropped = s.put_back(taken, keep=3)
    assert dropped == 2
    kept = s.take_all()
    assert sorted(kept) == [int(T0 // 60) + m for m in (2, 3, 4)]
    assert kept[int(T0 // 60) + 4]["10.0.0.1"].requests == 2  # merged, not replaced
