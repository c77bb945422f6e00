"""kubectl execution through the platform, with history (runtime family)."""
