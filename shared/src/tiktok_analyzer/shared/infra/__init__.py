"""Infrastructure clients: Kafka (broker, publishing, dead letters), MinIO (payloads, the
ingest ledger, the per-video status board)."""
