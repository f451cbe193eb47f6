"""The secured variant of the local stack (``tiktok-analyzer stack up --secure``): Kafka with one
SASL_SSL listener (SCRAM-SHA-512 users created when the log folder is formatted), MinIO on HTTPS,
MinIO's Kafka notifications over SASL_SSL too, and ``secure.env`` in the state folder with the
client settings every service and CLI command then needs.

Everything lives in ``<state>/secure/``: a CA made for this stack only, one server certificate
for 127.0.0.1 and localhost (Kafka and MinIO both present it), and the generated passwords, one
file each (mode 0600), which ``secure.env`` names through ``*_FILE`` variables, as a container
would mount them. Nothing secret is printed or written into ``secure.env`` itself.

Certificates are made with the ``openssl`` command line: the ``cryptography`` package is not
among the project's dependencies, and Java's keytool, although always there for Kafka, cannot
write a private key as PEM, which MinIO requires. Kafka reads the same PEM files
(``ssl.keystore.type=PEM``), so one set serves both servers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tiktok_analyzer.shared.infra.security import minio_notify_target_config
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

BROKER_USER = "broker"  # the broker's own connections to its SASL_SSL listener
CLIENT_USER = "tiktok"  # services, CLI and MinIO's notification target
MECHANISM = "SCRAM-SHA-512"
ENV_FILE = "secure.env"
DAYS = 825  # within what TLS clients accept for a server certificate


@dataclass(frozen=True)
class Material:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def kafka_keystore(self) -> Path:
        """Key then certificate chain in one PEM file, Kafka's PEM key store format."""
        return self.root / "kafka-keystore.pem"

    @property
    def minio_certs(self) -> Path:
        """MinIO's ``--certs-dir``: its key pair, and ``CAs/`` which its own clients (the
        Kafka notification target among them) trust besides the system's roots."""
        return self.root / "minio-certs"

    def password_file(self, who: str) -> Path:
        return self.root / f"{who}.password"

    def password(self, who: str) -> str:
        return self.password_file(who).read_text().strip()


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the secure stack makes its certificates with openssl: "
                           "apt-get install openssl")
    subprocess.run([openssl, *args], cwd=cwd, check=True, capture_output=True)


def _make_certificates(m: Material, hosts: list[str]) -> None:
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}"
                     for h in dict.fromkeys(["127.0.0.1", "localhost", *hosts]))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", str(DAYS), "-subj", "/CN=tiktok-analyzer local stack CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=m.root)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=localhost", cwd=m.root)
    (m.root / "server.ext").write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", str(DAYS),
             "-extfile", "server.ext", cwd=m.root)
    for path in (m.root / "ca.key", m.server_key):
        path.chmod(0o600)
    _private(m.kafka_keystore, m.server_key.read_text() + m.server_cert.read_text()
             + m.ca_cert.read_text())
    (m.minio_certs / "CAs").mkdir(parents=True, exist_ok=True)
    shutil.copy(m.server_cert, m.minio_certs / "public.crt")
    _private(m.minio_certs / "private.key", m.server_key.read_text())
    shutil.copy(m.ca_cert, m.minio_certs / "CAs" / "ca.crt")


def ensure_material(state: Path, hosts: list[str]) -> Material:
    """The CA, certificates and passwords of the stack in ``state``, made on the first call."""
    m = Material(state / "secure")
    if m.kafka_keystore.exists() and m.password_file("minio").exists():
        return m
    m.root.mkdir(parents=True, exist_ok=True)
    m.root.chmod(0o700)
    _make_certificates(m, hosts)
    for who in (BROKER_USER, CLIENT_USER, "minio"):
        _private(m.password_file(who), secrets.token_urlsafe(24) + "\n")
    return m


def client_settings(m: Material, kafka: KafkaSettings,
                    storage: StorageSettings) -> tuple[KafkaSettings, StorageSettings]:
    """``kafka`` and ``storage`` (their addresses, buckets, limits) secured as this stack is."""
    return (kafka.model_copy(update={
                "security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM,
                "sasl_username": CLIENT_USER, "sasl_password": None,
                "sasl_password_file": m.password_file(CLIENT_USER), "ssl_cafile": m.ca_cert}),
            storage.model_copy(update={
                "secure": True, "ca_file": m.ca_cert,
                "secret_key_file": m.password_file("minio")}))


def write_env_file(state: Path, kafka: KafkaSettings, storage: StorageSettings) -> Path:
    """``secure.env``: the ``TIKTOK_*`` variables of the secured clients, file paths in place
    of secrets; ``set -a; . .cache/stack/secure.env; set +a`` or ``ServiceSet(env=...)``."""
    values = {
        "TIKTOK_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TIKTOK_KAFKA_SECURITY_PROTOCOL": kafka.security_protocol,
        "TIKTOK_KAFKA_SASL_MECHANISM": kafka.sasl_mechanism,
        "TIKTOK_KAFKA_SASL_USERNAME": str(kafka.sasl_username),
        "TIKTOK_KAFKA_SASL_PASSWORD_FILE": str(kafka.sasl_password_file),
        "TIKTOK_KAFKA_SSL_CAFILE": str(kafka.ssl_cafile),
        "TIKTOK_S3_ENDPOINT": storage.endpoint,
        "TIKTOK_S3_SECURE": "true",
        "TIKTOK_S3_CA_FILE": str(storage.ca_file),
        "TIKTOK_S3_ACCESS_KEY": storage.access_key,
        "TIKTOK_S3_SECRET_KEY_FILE": str(storage.secret_key_file),
    }
    path = state / ENV_FILE
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def read_env_file(path: Path) -> dict[str, str]:
    lines = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, _, v in lines}


def kafka_properties(m: Material, host: str, port: int) -> list[str]:
    """The broker's listener lines: one SASL_SSL listener for clients and for the broker
    itself; the KRaft controller listener stays plaintext on loopback (one node, never
    reachable from elsewhere)."""
    broker_password = m.password(BROKER_USER)
    return [
        f"listeners=SASL_SSL://{host}:{port},CONTROLLER://{host}:{port + 1}",
        f"advertised.listeners=SASL_SSL://{host}:{port}",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER_USER}" password="{broker_password}";',
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={m.kafka_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={m.ca_cert}",
        "ssl.client.auth=none",
    ]


def scram_format_args(m: Material) -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM users: in KRaft mode they are
    stored in the metadata log, and the broker needs its own before it can start."""
    return [arg for who in (BROKER_USER, CLIENT_USER) for arg in
            ("--add-scram", f"{MECHANISM}=[name={who},password={m.password(who)}]")]


def minio_env(kafka: KafkaSettings, target: str) -> dict[str, str]:
    """The SASL/TLS variables of MinIO's Kafka notification target ``target``."""
    return {f"MINIO_NOTIFY_KAFKA_{key.upper()}_{target}": value
            for key, value in minio_notify_target_config(kafka).items()}
