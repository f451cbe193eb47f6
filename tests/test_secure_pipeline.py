"""The secured stack (``stack up --secure``): Kafka with only a SASL_SSL listener (SCRAM-SHA-512),
MinIO on HTTPS, MinIO's upload notifications over SASL_SSL, and the six services configured
by nothing but the stack's ``secure.env``.

It runs on ports of its own (Kafka 29092, MinIO 29000, ingest's API 28080) and in a state
folder of its own, so that it can share a session with the plain stack of the other tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from conftest import REPO, SERVICES
from minio import Minio
from pydantic import SecretStr

from tiktok_analyzer.cli import stack
from tiktok_analyzer.cli.services import ServiceSet
from tiktok_analyzer.cli.stack_secure import BROKER_USER, CLIENT_USER, Material, read_env_file
from tiktok_analyzer.cli.submit import read_reports, upload
from tiktok_analyzer.ingest.identity import video_id_for_file
from tiktok_analyzer.shared.contracts.topics import UPLOADS
from tiktok_analyzer.shared.infra.security import kafka_client_kwargs, minio_client
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

pytestmark = pytest.mark.infra

KAFKA = "127.0.0.1:29092"
MINIO = "127.0.0.1:29000"


@pytest.fixture(scope="module")
def secure_stack() -> Iterator[stack.StackPaths]:
    """The secured stack, and this process's environment set from its ``secure.env``."""
    paths = stack.StackPaths(cache=REPO / ".cache" / "infra",
                             state=REPO / ".cache" / f"stack-secure{stack.netns_suffix()}")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIKTOK_KAFKA_BOOTSTRAP_SERVERS", KAFKA)
        env.setenv("TIKTOK_S3_ENDPOINT", MINIO)
        already = all(stack.status(paths).values())
        stack.up(paths, secure=True)
        for key, value in read_env_file(paths.secure_env).items():
            env.setenv(key, value)
        yield paths
        if not already:
            stack.down(paths, wipe=True)


async def _topics(kafka: KafkaSettings) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka), request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(admin.start(), 60)
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _kafka_log(paths: stack.StackPaths) -> str:
    return (paths.state / "kafka.log").read_text(errors="replace")


def test_the_secured_port_refuses_plaintext_and_a_wrong_password(
        secure_stack: stack.StackPaths) -> None:
    kafka = KafkaSettings()
    assert kafka.security_protocol == "SASL_SSL" and kafka.bootstrap_servers == KAFKA
    assert UPLOADS.name in asyncio.run(_topics(kafka))  # the env file's settings get in

    plaintext = kafka.model_copy(update={"security_protocol": "PLAINTEXT"})
    with pytest.raises(KafkaConnectionError):
        asyncio.run(_topics(plaintext))

    failed_before = _kafka_log(secure_stack).count("invalid credentials")
    wrong = kafka.model_copy(update={"sasl_password": SecretStr("not-the-password"),
                                     "sasl_password_file": None})
    with pytest.raises(KafkaConnectionError):  # aiokafka's bootstrap error wraps the refusal
        asyncio.run(_topics(wrong))
    # ... refused for its credentials, not for anything else.
    assert _kafka_log(secure_stack).count("invalid credentials") > failed_before


def test_minio_speaks_only_https_with_the_stack_ca(secure_stack: stack.StackPaths) -> None:
    storage = StorageSettings()
    assert storage.secure and storage.endpoint == MINIO
    assert minio_client(storage).bucket_exists(storage.upload_bucket)
    secret = storage.secret().get_secret_value()

    def attempt(secure: bool, **pool: Any) -> None:
        import urllib3

        Minio(MINIO, access_key=storage.access_key, secret_key=secret, secure=secure,
              http_client=urllib3.PoolManager(retries=False, timeout=10, **pool)).list_buckets()

    with pytest.raises(Exception, match=r"HTTP request to an HTTPS server"):
        attempt(secure=False)
    import certifi

    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED"):
        attempt(secure=True, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())  # not our CA


def test_one_video_through_the_secured_pipeline_and_no_secret_in_any_log(
        secure_stack: stack.StackPaths, red_clip: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"TIKTOK_MODEL_STORE": str(tmp_path_factory.mktemp("secure-models")),
           "TIKTOK_INGEST_HTTP_PORT": "28080",
           # The observability ports (9101..9106) are fixed per service, and the plain
           # services hold them.
           "TIKTOK_OBS_ENABLED": "false"}
    log_dir = secure_stack.state / "services"
    with ServiceSet(SERVICES, log_dir=log_dir, env=env) as running:
        running.wait_ready()
        upload(red_clip, key=f"{uuid.uuid4().hex[:8]}/{red_clip.name}")
        video_id = video_id_for_file(red_clip)
        found = asyncio.run(read_reports({video_id}, timeout=240))

    assert found[video_id], "no report over the secured pipeline"
    report = found[video_id][0]
    assert report.status == "complete", report.reason
    assert report.summary is not None
    assert report.summary.tempo_bpm == pytest.approx(100, rel=0.02)
    colors = report.summary.dominant_colors or []
    assert colors, "the colour analyzer ran"

    material = Material(secure_stack.state / "secure")
    secrets = {who: material.password(who) for who in (BROKER_USER, CLIENT_USER, "minio")}
    logs = [*log_dir.glob("*.log"), secure_stack.state / "kafka.log",
            secure_stack.state / "minio.log"]
    assert len(logs) == len(SERVICES) + 2
    for log in logs:
        text = log.read_text(errors="replace")
        for who, secret in secrets.items():
            assert secret not in text, f"the {who} password is in {log.name}"
