"""How every client of the project reaches Kafka and MinIO: one place turns the settings
(``TIKTOK_KAFKA_SECURITY_PROTOCOL``, ``TIKTOK_KAFKA_SASL_*``, ``TIKTOK_KAFKA_SSL_*``,
``TIKTOK_S3_SECURE``, ``TIKTOK_S3_CA_FILE``) into client arguments, so that the FastStream
brokers, the hand-made aiokafka consumers and admin clients, and the MinIO clients can never
disagree about TLS or credentials.

Kafka: FastStream's security objects (``faststream.security``) are the one description; its own
``parse_security`` turns them into aiokafka's keyword arguments for the clients FastStream does
not build. The TLS context comes from aiokafka's ``create_ssl_context``. Secrets stay in
``SecretStr`` until a client is built and are never logged.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

if TYPE_CHECKING:
    import urllib3
    from minio import Minio

_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def kafka_ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of an SSL or SASL_SSL connection, None for the plaintext protocols."""
    if not settings.security_protocol.endswith("SSL"):
        return None
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )
    return context


def kafka_security(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for ``settings``; None on the default PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = kafka_ssl_context(settings)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    secret = settings.sasl_secret()
    assert settings.sasl_username is not None and secret is not None  # the settings validate it
    return _SASL[settings.sasl_mechanism](
        settings.sasl_username, secret.get_secret_value(), ssl_context=context,
        use_ssl=protocol == "SASL_SSL")


def kafka_client_kwargs(settings: KafkaSettings | None = None) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments for an aiokafka client
    (``AIOKafkaConsumer(topic, **kafka_client_kwargs(), group_id=...)``): the same translation
    FastStream applies to ``KafkaBroker(security=...)``."""
    from faststream.kafka.security import parse_security

    settings = settings or KafkaSettings()
    return {"bootstrap_servers": settings.bootstrap_servers,
            **parse_security(kafka_security(settings))}


def minio_http_client(storage: StorageSettings) -> urllib3.PoolManager | None:
    """The MinIO client's HTTP pool trusting ``ca_file``; None (the client's own default pool,
    which trusts ``SSL_CERT_FILE`` or certifi's bundle) without one. Timeouts and retries are
    those of the client's default pool (minio/api.py), which offers no way to change only the
    CA."""
    if not storage.secure or storage.ca_file is None:
        return None
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=300, read=300), maxsize=10,
        cert_reqs="CERT_REQUIRED", ca_certs=str(storage.ca_file),
        retries=urllib3.Retry(total=5, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))


def minio_client(storage: StorageSettings | None = None) -> Minio:
    """A MinIO client for ``storage`` (default: from the environment), the one
    ``MinioBlobStore.from_settings`` builds."""
    from tiktok_analyzer.shared.infra.blobs import MinioBlobStore

    return MinioBlobStore.from_settings(storage).client


_MINIO_MECHANISM = {"SCRAM-SHA-512": "sha512", "SCRAM-SHA-256": "sha256", "PLAIN": "plain"}


def minio_notify_target_config(kafka: KafkaSettings) -> dict[str, str]:
    """The security keys of MinIO's Kafka notification target (``notify_kafka`` config keys;
    as environment variables ``MINIO_NOTIFY_KAFKA_<KEY>_<TARGET>``) that make MinIO reach the
    brokers as our clients do. MinIO trusts the system's CAs and those in its certs folder's
    ``CAs/``; ``ssl_cafile`` has to be put there, it cannot be passed."""
    config: dict[str, str] = {}
    if kafka.security_protocol.endswith("SSL"):
        config["tls"] = "on"
        if kafka.ssl_certfile is not None and kafka.ssl_keyfile is not None:
            config |= {"client_tls_cert": str(kafka.ssl_certfile),
                       "client_tls_key": str(kafka.ssl_keyfile)}
    if kafka.security_protocol.startswith("SASL_"):
        secret = kafka.sasl_secret()
        assert kafka.sasl_username is not None and secret is not None  # validated settings
        config |= {"sasl": "on", "sasl_username": kafka.sasl_username,
                   "sasl_password": secret.get_secret_value(),
                   "sasl_mechanism": _MINIO_MECHANISM[kafka.sasl_mechanism]}
    return config
