"""ML service proxies (`/api/service/*`, gated by objects read as the user) and the
Prometheus/Thanos pass-through (`/api/prometheus/*`)."""
from .plugin import ServicesPlugin

__all__ = ["ServicesPlugin"]
