"""Traffic sampling, detectors and anomaly events (routes under `/api/anomaly/`)."""

from taichu.domains import Domain
from taichu.traffic import jobs, models
from taichu.traffic.routes import router

DOMAIN = Domain(
    name="traffic",
    runtime_routers=[router],
    register_jobs=jobs.register,
    audit_nouns={"anomaly": "anomaly"},  # the same word the blacklist declares
    models=models,
    settings_section="anomaly",
)
