"""Event contracts: every event and the report (pydantic, the only definition), the canonical
record and summary types analyzers emit, and the topology (topics and services)."""
