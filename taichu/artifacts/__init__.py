"""Offline bundles: the binaries and images a node and a control plane need, with a
manifest of their versions and checksums (`taichu artifact build` makes one)."""
