"""The per-process cache of parsed cluster accesses: a changed kubeconfig (a new
ciphertext) or fallback list is a miss, a deleted cluster is dropped, and it stays bounded."""

from __future__ import annotations

from taichu.kube.access import AccessCache, ClusterAccess


def _access(token: str) -> ClusterAccess:
    return ClusterAccess(server="https://10.0.0.1:6443", token=token)


def test_a_changed_key_is_a_miss_and_a_dropped_cluster_is_gone() -> None:
    cache = AccessCache()
    first = _access("token-one")
    cache.put("c1", ("cipher-1", ()), first)
    assert cache.get("c1", ("cipher-1", ())) is first
    assert cache.get("c1", ("cipher-2", ())) is None  # the kubeconfig was replaced
    assert cache.get("c1", ("cipher-1", ("https://10.0.0.2:6443",))) is None
    assert cache.get("c2", ("cipher-1", ())) is None
    cache.drop("c1")
    assert cache.get("c1", ("cipher-1", ())) is None
    cache.drop("c1")  # dropping twice is harmless


def test_the_cache_stays_bounded() -> None:
    cache = AccessCache(max_entries=3)
    for n in range(10):
        cache.put(f"c{n}", n, _access(f"token-{n}"))
        assert len(cache._entries) <= 3
    assert cache.get("c9", 9) is not None
    cache.put("c9", 10, _access("token-new"))  # replacing one never evicts the rest
    assert len(cache._entries) >= 1 and cache.get("c9", 10) is not None
