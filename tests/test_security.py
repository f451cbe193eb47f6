"""Kafka and MinIO security settings (``infra/security.py``): every client is built from the
same settings, the default stays plain, and secrets never show in reprs or generated documents.
The secured stack itself is exercised in tests/test_secure_pipeline.py."""

from __future__ import annotations

import functools
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from faststream.security import SASLScram512
from pydantic import SecretStr, ValidationError

from tiktok_analyzer.shared.infra.kafka import make_broker
from tiktok_analyzer.shared.infra.security import (
    kafka_client_kwargs,
    kafka_security,
    minio_client,
    minio_http_client,
    minio_notify_target_config,
)
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "s3cr3t-never-shown-anywhere"
# A CA any TLS library accepts, so that contexts can be built without a running stack.
SYSTEM_CA = Path(ssl.get_default_verify_paths().openssl_cafile)


def test_the_default_is_plain_and_unchanged() -> None:
    settings = KafkaSettings()
    assert settings.security_protocol == "PLAINTEXT"
    assert kafka_security(settings) is None
    assert kafka_client_kwargs(settings) == {"bootstrap_servers": settings.bootstrap_servers}
    assert minio_http_client(StorageSettings()) is None


def test_sasl_needs_a_user_and_exactly_one_password(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_password=SecretStr(PASSWORD))
    with pytest.raises(ValidationError, match="exactly one"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc")
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    with pytest.raises(ValidationError, match="exactly one"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_username="svc",
                      sasl_password=SecretStr(PASSWORD), sasl_password_file=secret)


def test_sasl_ssl_from_the_environment_with_a_mounted_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")  # as `kubectl create secret --from-file` leaves it
    for key, value in {"SECURITY_PROTOCOL": "SASL_SSL", "SASL_USERNAME": "svc",
                       "SASL_PASSWORD_FILE": str(secret), "SSL_CAFILE": str(SYSTEM_CA)}.items():
        monkeypatch.setenv(f"TIKTOK_KAFKA_{key}", value)
    settings = KafkaSettings()

    security = kafka_security(settings)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl and isinstance(security.ssl_context, ssl.SSLContext)
    kwargs = kafka_client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("svc", PASSWORD)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert kwargs["ssl_context"].check_hostname

    # The consumers of the broker FastStream builds carry the same security.
    builder = make_broker(settings).config.broker_config.builder
    assert isinstance(builder, functools.partial)
    consumer_kwargs = builder.keywords
    compared = ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                "sasl_plain_password")
    assert {k: consumer_kwargs[k] for k in compared} == {k: kwargs[k] for k in compared}
    assert isinstance(consumer_kwargs["ssl_context"], ssl.SSLContext)

    # MinIO's notification target speaks the same SASL and TLS.
    assert minio_notify_target_config(settings) == {
        "tls": "on", "sasl": "on", "sasl_username": "svc", "sasl_password": PASSWORD,
        "sasl_mechanism": "sha512"}

    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert PASSWORD not in settings.model_dump_json()


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValidationError, match="go together"):
        KafkaSettings(security_protocol="SSL", ssl_certfile=SYSTEM_CA)


def test_minio_over_https_trusts_the_given_ca(tmp_path: Path) -> None:
    secret = tmp_path / "minio-secret"
    secret.write_text(PASSWORD + "\n")
    storage = StorageSettings(secure=True, ca_file=SYSTEM_CA, secret_key_file=secret)
    pool = minio_http_client(storage)
    assert pool is not None and pool.connection_pool_kw["ca_certs"] == str(SYSTEM_CA)
    client = minio_client(storage)
    # The client the blob store and the stack CLI use.
    assert client._http.connection_pool_kw["ca_certs"] == str(SYSTEM_CA)
    assert client._base_url.is_https
    assert storage.secret().get_secret_value() == PASSWORD
    assert PASSWORD not in repr(storage)


def test_generated_documents_never_hold_the_password(tmp_path: Path) -> None:
    """``tiktok-analyzer schemas`` (JSON Schemas and the ingest AsyncAPI document, built from
    the ingest broker) under SASL_SSL settings: the security scheme is named, the password
    nowhere."""
    env = {**os.environ, "TIKTOK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
           "TIKTOK_KAFKA_SASL_USERNAME": "svc", "TIKTOK_KAFKA_SASL_PASSWORD": PASSWORD,
           "TIKTOK_KAFKA_SSL_CAFILE": str(SYSTEM_CA)}
    out = tmp_path / "docs" / "schemas"
    subprocess.run([sys.executable, "-m", "tiktok_analyzer.cli.main", "schemas", "--out",
                    str(out)], env=env, cwd=REPO, check=True, capture_output=True, timeout=300)
    spec = json.loads((tmp_path / "docs" / "asyncapi" / "ingest.asyncapi.json").read_text())
    assert "scram512" in json.dumps(spec["components"]), "the security scheme is documented"
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 5
    for path in written:
        assert PASSWORD not in path.read_text(), path


def test_every_client_in_the_code_takes_the_shared_settings() -> None:
    """A Kafka or MinIO client built anywhere but the one place that applies the security
    settings would silently talk plaintext: aiokafka clients must take
    ``**kafka_client_kwargs(...)``, and the brokers and MinIO clients are built only by
    ``make_broker``, ``MinioBlobStore`` and init's admin client (which takes the shared
    ``minio_http_client``)."""
    import ast

    builders = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
    only_in = {"KafkaBroker": "shared/src/tiktok_analyzer/shared/infra/kafka.py",
               "Minio": "shared/src/tiktok_analyzer/shared/infra/blobs.py",
               "MinioAdmin": "src/tiktok_analyzer/cli/init_infra.py"}
    seen = set()
    for root in ("shared/src", "services", "src", "benchmarks"):
        for path in (REPO / root).rglob("*.py"):
            where = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in builders:
                    seen.add(name)
                    assert any(k.arg is None and "kafka_client_kwargs" in ast.unparse(k.value)
                               for k in node.keywords), f"{where}:{node.lineno} {name}"
                elif name in only_in:
                    seen.add(name)
                    assert where == only_in[name], f"{where}:{node.lineno} builds {name}"
                    if name == "MinioAdmin":
                        assert "minio_http_client" in ast.unparse(node), where
    assert {"AIOKafkaConsumer", "AIOKafkaAdminClient", "KafkaBroker", "Minio"} <= seen
