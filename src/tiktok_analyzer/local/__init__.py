"""The one-process mode: every stage of the pipeline in this process, no Kafka or MinIO."""
