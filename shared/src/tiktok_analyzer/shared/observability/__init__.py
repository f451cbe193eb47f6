"""Observability: traces (OpenTelemetry), metrics (Prometheus), JSON logs, health endpoints,
and the observer that serves them beside each service."""
