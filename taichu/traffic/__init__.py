"""Traffic sampling, anomaly detectors and their events (routed under `/api/anomaly/`)."""
