"""Pure logic: parsing entries' addresses and the in-memory rule index."""

from __future__ import annotations

import ipaddress

import pytest

from taichu.blacklist import networks
from taichu.blacklist.enforcement import Rule, RuleIndex


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7/32", "203.0.113.7"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("::ffff:10.1.0.0/112", "10.1.0.0/16"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_entries_are_canonical(text: str, shown: str) -> None:
    assert networks.display(networks.parse_network(text)) == shown


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10.0.0.5/24", "did you mean 10.0.0.0/24"),
        ("fe80::1%eth0", "zone"),
        ("example.com", "IPv4/IPv6"),
        ("1.2.3.4/33", "IPv4/IPv6"),
        ("", "IPv4/IPv6"),
    ],
)
def test_bad_entries_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        networks.parse_network(text)


def test_auto_blocks_of_ipv6_cover_the_64() -> None:
    assert str(networks.auto_block_network("2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64"
    assert str(networks.auto_block_network("203.0.113.9")) == "203.0.113.9/32"
    assert str(networks.auto_block_network("::ffff:203.0.113.9")) == "203.0.113.9/32"
    with pytest.raises(ValueError):
        networks.auto_block_network("unknown")


def test_bounds_compare_as_numbers() -> None:
    low = networks.bounds(networks.parse_network("9.255.255.255"))
    high = networks.bounds(networks.parse_network("10.0.0.0"))
    assert low[1] < high[1] and len(low[1]) == len(high[1]) == 32


def _rule(entry_id: str, net: str, action: str, expires: float | None = None) -> Rule:
    return Rule(entry_id, ipaddress.ip_network(net), action, expires)


def test_rule_index_matches_by_prefix_block_first_and_skips_expired() -> None:
    index = RuleIndex(
        [
            _rule("wide-monitor", "10.0.0.0/8", "monitor"),
            _rule("narrow-block", "10.1.2.0/24", "block"),
            _rule("expired", "10.9.9.9/32", "block", expires=100.0),
            _rule("v6", "2001:db8::/64", "block"),
        ]
    )

    def at(address: str, now: float = 1000.0) -> str | None:
        rule = index.match(ipaddress.ip_address(address), now)
        return rule.entry_id if rule else None

    assert at("10.1.2.3") == "narrow-block"
    assert at("10.1.3.3") == "wide-monitor"
    assert at("10.9.9.9") == "wide-monitor"  # its block expired
    assert at("10.9.9.9", now=50.0) == "expired"  # before it expired
    assert at("11.0.0.1") is None
    assert at("2001:db8::abcd") == "v6"
    assert at("2001:db8:0:1::1") is None
