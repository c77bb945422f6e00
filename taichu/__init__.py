"""Taichu (太初): multi-cluster Kubernetes management platform."""

__version__ = "0.1.0"
