"""``tiktok-analyzer init``: topics, buckets and the upload notification on a Kafka and a MinIO
that already run: the compose ``init`` service and the Kubernetes Job (``k8s/base/init-job.yaml``).

It reuses the dev stack's steps (``stack._create_topics``, ``stack.configure_minio``), so the
topics (names, partitions, configs from ``shared/contracts/topics.py``), buckets and bucket
notification are the same everywhere. Idempotent: existing topics and buckets are kept, the
notification is set again. Settings come from the usual ``TIKTOK_KAFKA_*`` and ``TIKTOK_S3_*``
variables.

MinIO sends upload events through a Kafka notification target (``notify_kafka:PRIMARY``). The
dev stack gives MinIO that target in its environment at start; a MinIO run by someone else (the
MinIO Operator, a managed service) gets it here, through MinIO's admin API, with
``--register-notify-target`` (the credentials then need the admin ``config`` rights).

This module needs only ``stack`` and the shared package (imported when it runs, so that the
``tiktok-analyzer`` parser stays light), so that it also runs from the ingest image's ``init``
build target as ``python -m tiktok_analyzer.cli.init_infra``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minio.minioadmin import MinioAdmin

    from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings


def _say(message: str) -> None:
    print(f"[init] {message}", file=sys.stderr, flush=True)


def _target_config(admin: MinioAdmin, key: str) -> dict[str, str] | None:
    """The stored settings of notification target ``key`` as MinIO runs it, None if absent."""
    try:
        text = admin.config_get(key)
    except Exception as exc:
        if "there is no target" in str(exc):
            return None
        raise
    fields = text.split()[1:]  # "notify_kafka:PRIMARY topic=... brokers=... ..."
    return dict(field.partition("=")[::2] for field in fields)


def register_notify_target(storage: StorageSettings, brokers: str, queue_dir: str = "",
                           timeout_s: float = 120.0, kafka: KafkaSettings | None = None) -> bool:
    """Make MinIO run the Kafka notification target ``stack.NOTIFY_TARGET`` publishing to the
    uploads topic (the ARN that ``configure_minio`` subscribes the bucket to), with the SASL and
    TLS of ``kafka`` (our clients' settings). MinIO applies a new notification target only at
    start, so a missing or different one is stored and MinIO restarted (a few seconds without
    S3); True when that happened."""
    from minio.credentials.providers import StaticProvider
    from minio.minioadmin import MinioAdmin

    from tiktok_analyzer.cli import stack
    from tiktok_analyzer.shared.contracts import topics
    from tiktok_analyzer.shared.infra.security import minio_http_client, minio_notify_target_config

    admin = MinioAdmin(endpoint=storage.endpoint, secure=storage.secure,
                       credentials=StaticProvider(storage.access_key,
                                                  storage.secret().get_secret_value()),
                       http_client=minio_http_client(storage))
    key = f"notify_kafka:{stack.NOTIFY_TARGET}"
    security = minio_notify_target_config(kafka) if kafka is not None else {}
    wanted = {"brokers": brokers, "topic": topics.UPLOADS.name, "queue_dir": queue_dir,
              **security}
    # MinIO does not hand a stored password back, so it is compared by its absence only.
    compared = {k: v for k, v in wanted.items() if k != "sasl_password"}
    deadline = time.monotonic() + timeout_s
    while True:  # MinIO may still be starting
        try:
            running = _target_config(admin, key)
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"MinIO admin API at {storage.endpoint}: {exc}") from exc
            time.sleep(1.0)
    if running is not None and running.get("enable", "on") == "on" and all(
            running.get(k, "") == v for k, v in compared.items()):
        return False
    admin.config_set(key, {"enable": "on", **{k: v for k, v in wanted.items() if v}})
    _say(f"stored {key}; restarting MinIO so that it takes effect")
    admin.service_restart()
    while True:
        try:
            if _target_config(admin, key) is not None:
                return True
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"MinIO did not come back with {key}: {exc}") from exc
        if time.monotonic() > deadline:
            raise RuntimeError(f"MinIO came back without {key}")
        time.sleep(1.0)


def init(replication: int = 1, register_target: bool = False, notify_brokers: str | None = None,
         queue_dir: str = "") -> None:
    from tiktok_analyzer.cli import stack
    from tiktok_analyzer.shared.contracts import topics
    from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

    kafka, storage = KafkaSettings(), StorageSettings()
    started = time.perf_counter()
    asyncio.run(stack._create_topics(kafka, replication=replication))
    _say(f"topics present on {kafka.bootstrap_servers}: "
         f"{', '.join(f'{t.name}({t.partitions})' for t in topics.ALL_TOPICS)}")
    if register_target:
        brokers = notify_brokers or kafka.bootstrap_servers
        restarted = register_notify_target(storage, brokers, queue_dir, kafka=kafka)
        _say(f"MinIO notification target {stack.NOTIFY_ARN} -> {brokers} topic "
             f"{topics.UPLOADS.name} ({'registered' if restarted else 'already in place'})")
    stack.configure_minio(storage)
    _say(f"buckets {storage.upload_bucket}, {storage.work_bucket}, {storage.report_bucket} "
         f"on {storage.endpoint}; {storage.upload_bucket} notifies {stack.NOTIFY_ARN}; "
         f"done in {time.perf_counter() - started:.1f}s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replication-factor", type=int, default=1,
                        help="replication factor of topics created now (3 on a production "
                             "cluster; existing topics are left alone)")
    parser.add_argument("--register-notify-target", action="store_true",
                        help="also create MinIO's Kafka notification target through the admin "
                             "API (for a MinIO that was not started with it in its environment)")
    parser.add_argument("--notify-brokers", default=None,
                        help="brokers as MinIO reaches them (default: "
                             "TIKTOK_KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--notify-queue-dir", default="",
                        help="folder on the MinIO server where events wait while Kafka is "
                             "down (default: none; the ingest reconciler re-announces lost ones)")


def run_from_args(args: argparse.Namespace) -> int:
    init(replication=args.replication_factor, register_target=args.register_notify_target,
         notify_brokers=args.notify_brokers, queue_dir=args.notify_queue_dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-analyzer init", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
