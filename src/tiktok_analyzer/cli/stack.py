"""A local single-node Kafka + MinIO stack on loopback, built and started by the project.

* Kafka: the broker jars from Maven Central, run in KRaft mode on the machine's Java 17.
* MinIO: distributed as source only, so it is built with ``go install`` at a pinned version.

Both are built by ``toolchain`` (pinned versions, time limits, atomic installs) and cached
under ``.cache/infra`` (git-ignored): ``scripts/setup.sh --tests`` builds them on a fresh
machine (minutes); later ``up`` calls start in seconds. Process IDs go to the state folder
and ``down`` stops exactly those processes, nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tiktok_analyzer.cli import toolchain
from tiktok_analyzer.shared.contracts import topics
from tiktok_analyzer.shared.settings import KafkaSettings, StorageSettings

if TYPE_CHECKING:
    from tiktok_analyzer.cli.stack_secure import Material

NOTIFY_TARGET = "PRIMARY"
NOTIFY_ARN = f"arn:minio:sqs::{NOTIFY_TARGET}:kafka"


def _say(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StackPaths:
    cache: Path
    state: Path

    @classmethod
    def default(cls) -> StackPaths:
        root = Path(os.environ.get("TIKTOK_STACK_ROOT", Path.cwd() / ".cache"))
        return cls(cache=root / "infra", state=root / f"stack{netns_suffix()}")

    @property
    def kafka_libs(self) -> Path:
        return toolchain.KAFKA.path(self.cache)

    @property
    def minio_bin(self) -> Path:
        return toolchain.MINIO.path(self.cache)

    @property
    def secure_env(self) -> Path:
        """Present while this stack runs secured (``up --secure``): the clients' settings."""
        return self.state / "secure.env"


def _material(paths: StackPaths) -> Material | None:
    """The secured stack's certificates and passwords; None for the plain stack. Imported only
    then: the ingest image's ``init`` target carries this module but not ``stack_secure``."""
    if not paths.secure_env.exists():
        return None
    from tiktok_analyzer.cli.stack_secure import Material

    return Material(paths.state / "secure")


def stack_settings(paths: StackPaths | None = None) -> tuple[KafkaSettings, StorageSettings]:
    """How clients reach this stack: the environment's settings, secured as the stack is."""
    paths = paths or StackPaths.default()
    kafka, storage = KafkaSettings(), StorageSettings()
    material = _material(paths)
    if material is None:
        return kafka, storage
    from tiktok_analyzer.cli.stack_secure import client_settings

    return client_settings(material, kafka, storage)


def netns_suffix() -> str:
    """A stack started inside a named network namespace (``ip netns exec NAME``) has loopback
    ports of its own, so it gets a state folder of its own too: two test runs isolated by
    namespaces on one machine must not share Kafka's log folder or the pid files."""
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
        for named in Path("/run/netns").iterdir():
            if named.stat().st_ino == mine:
                return f"-{named.name}"
    except OSError:  # no /proc or no named namespaces: the default folder
        pass
    return ""


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _wait_port(host: str, port: int, what: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f}s; log:\n{tail}")


# --- fetching and building: toolchain.py (time limits, retries, atomic installs) -----------


def ensure_kafka(paths: StackPaths) -> Path:
    return toolchain.KAFKA.ensure(paths.cache)


def ensure_minio(paths: StackPaths) -> Path:
    return toolchain.MINIO.ensure(paths.cache)


# --- processes --------------------------------------------------------------------------------


def _pid_alive(pid: int, expect: str) -> bool:
    """True while ``pid`` runs ``expect``. A zombie counts as gone: when this process started
    the stack itself (as the tests do), reap it so it does not linger as one."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: someone else reaps it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return expect in cmdline


def _start(name: str, argv: list[str], env: dict[str, str], paths: StackPaths) -> int:
    log = paths.state / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=paths.state)
    (paths.state / f"{name}.pid").write_text(json.dumps({"pid": proc.pid, "expect": argv[0]}))
    return proc.pid


def _running(name: str, paths: StackPaths) -> int | None:
    pid_file = paths.state / f"{name}.pid"
    if not pid_file.exists():
        return None
    info = json.loads(pid_file.read_text())
    return info["pid"] if _pid_alive(info["pid"], info["expect"]) else None


def _already_ours(name: str, host: str, port: int, paths: StackPaths) -> bool:
    """True if this stack already runs ``name``; an error if a stranger holds its port."""
    if _running(name, paths):
        return True
    if _port_open(host, port):
        raise RuntimeError(f"{host}:{port} is taken by a process this stack did not start")
    return False


def _listeners(host: str, port: int, material: Material | None) -> list[str]:
    if material is not None:
        from tiktok_analyzer.cli.stack_secure import kafka_properties

        return kafka_properties(material, host, port)
    return [f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{port + 1}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"]


def _start_kafka(paths: StackPaths, kafka: KafkaSettings) -> None:
    host, port = _host_port(kafka.bootstrap_servers.split(",")[0])
    if _already_ours("kafka", host, port, paths):
        return
    libs = ensure_kafka(paths)
    data = paths.state / "kafka-data"
    config = paths.state / "kafka.properties"
    material = _material(paths)
    # Mode 0600: the secured broker's own SCRAM password is in it.
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text("\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{port + 1}",
        *_listeners(host, port, material),
        "controller.listener.names=CONTROLLER",
        f"log.dirs={data}",
        "num.partitions=6",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "message.max.bytes=4194304",
        "",
    ]))
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "Java 17 is needed to run Kafka: apt-get install openjdk-17-jre-headless")
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():
        cluster_id = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool",
                                     "random-uuid"], capture_output=True, text=True, check=True
                                    ).stdout.strip().splitlines()[-1]
        scram: list[str] = []
        if material is not None:
            from tiktok_analyzer.cli.stack_secure import scram_format_args

            scram = scram_format_args(material)
        formatted = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool",
                                    "format", "-t", cluster_id, "-c", str(config), *scram],
                                   capture_output=True, text=True)
        if formatted.returncode != 0:
            tail = (formatted.stdout + formatted.stderr).strip().splitlines()[-5:]
            raise RuntimeError(f"formatting Kafka's log folder {data} failed: "
                               + " | ".join(tail))
    _start("kafka", [java, "-Xms256m", "-Xmx768m", "-cp", classpath, "kafka.Kafka",
                     str(config)], dict(os.environ), paths)
    # Generous: on a loaded 2-core machine the broker took over two minutes (TLS set-up adds).
    _wait_port(host, port, "Kafka", 240, paths.state / "kafka.log")


def _start_minio(paths: StackPaths, storage: StorageSettings, kafka: KafkaSettings) -> None:
    host, port = _host_port(storage.endpoint)
    if _already_ours("minio", host, port, paths):
        return
    binary = ensure_minio(paths)
    data = paths.state / "minio-data"
    data.mkdir(parents=True, exist_ok=True)
    material = _material(paths)
    env = {
        **os.environ,
        "MINIO_ROOT_USER": storage.access_key,
        "MINIO_ROOT_PASSWORD": storage.secret().get_secret_value(),
        # MinIO's own Kafka notification target: every upload becomes an event, no polling.
        f"MINIO_NOTIFY_KAFKA_ENABLE_{NOTIFY_TARGET}": "on",
        f"MINIO_NOTIFY_KAFKA_BROKERS_{NOTIFY_TARGET}": kafka.bootstrap_servers,
        f"MINIO_NOTIFY_KAFKA_TOPIC_{NOTIFY_TARGET}": topics.UPLOADS.name,
        f"MINIO_NOTIFY_KAFKA_QUEUE_DIR_{NOTIFY_TARGET}": str(paths.state / "minio-queue"),
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }
    tls: list[str] = []
    if material is not None:
        from tiktok_analyzer.cli.stack_secure import minio_env

        env |= minio_env(kafka, NOTIFY_TARGET)
        tls = ["--certs-dir", str(material.minio_certs)]
    (paths.state / "minio-queue").mkdir(exist_ok=True)
    _start("minio", [str(binary), "server", str(data), "--address", f"{host}:{port}",
                     "--console-address", f"{host}:{port + 1}", "--quiet", *tls], env, paths)
    _wait_port(host, port, "MinIO", 60, paths.state / "minio.log")


async def _create_topics(kafka: KafkaSettings, replication: int = 1) -> None:
    """Every topic of ``topics.ALL_TOPICS`` that is missing, with its partitions and configs;
    existing topics are left as they are."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tiktok_analyzer.shared.infra.security import kafka_client_kwargs

    admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka))
    for attempt in range(60):
        try:
            await admin.start()
            break
        except Exception:
            if attempt == 59:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t.name, t.partitions, replication,
                           topic_configs={"max.message.bytes": "4194304", **dict(t.configs)})
                  for t in topics.ALL_TOPICS if t.name not in existing]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


def configure_minio(storage: StorageSettings) -> None:
    from minio.notificationconfig import NotificationConfig, QueueConfig

    from tiktok_analyzer.shared.infra.security import minio_client

    client = minio_client(storage)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_buckets()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    for bucket in (storage.upload_bucket, storage.work_bucket, storage.report_bucket):
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    client.set_bucket_notification(
        storage.upload_bucket,
        NotificationConfig(queue_config_list=[
            QueueConfig(["s3:ObjectCreated:*"], config_id="tiktok-uploads", queue=NOTIFY_ARN)]),
    )


def _secure_requested() -> bool:
    return os.environ.get("TIKTOK_STACK_SECURE", "").lower() in ("1", "true", "yes", "on")


def _prepare_secure(paths: StackPaths, secure: bool) -> None:
    """Make the secured stack's certificates, passwords and ``secure.env``; refuse to switch
    a stack whose Kafka log folder was formatted in the other mode (its SCRAM users, or their
    absence, are in the metadata log)."""
    formatted = (paths.state / "kafka-data" / "meta.properties").exists()
    if formatted and paths.secure_env.exists() != secure:
        was = "with --secure" if paths.secure_env.exists() else "without --secure"
        raise RuntimeError(f"the stack in {paths.state} was set up {was}; "
                           "`tiktok-analyzer stack down --wipe` first to switch")
    if not secure:
        return
    from tiktok_analyzer.cli.stack_secure import client_settings, ensure_material, write_env_file

    kafka, storage = KafkaSettings(), StorageSettings()
    hosts = [_host_port(a)[0] for a in (*kafka.bootstrap_servers.split(","), storage.endpoint)]
    material = ensure_material(paths.state, hosts)
    write_env_file(paths.state, *client_settings(material, kafka, storage))


def up(paths: StackPaths | None = None, secure: bool | None = None) -> None:
    """Start Kafka and MinIO, create topics and buckets. ``secure`` (default: env
    ``TIKTOK_STACK_SECURE``): SASL_SSL and HTTPS, clients' settings in ``secure.env``."""
    paths = paths or StackPaths.default()
    paths.state.mkdir(parents=True, exist_ok=True)
    _prepare_secure(paths, _secure_requested() if secure is None else secure)
    kafka, storage = stack_settings(paths)
    started = time.perf_counter()
    ensure_kafka(paths)
    ensure_minio(paths)
    _start_kafka(paths, kafka)
    asyncio.run(_create_topics(kafka))
    # MinIO checks its Kafka target at start, so it comes up after the broker and topics.
    _start_minio(paths, storage, kafka)
    configure_minio(storage)
    _say(f"up in {time.perf_counter() - started:.1f}s: Kafka {kafka.bootstrap_servers}, "
         f"MinIO {storage.endpoint}; state in {paths.state}")
    if paths.secure_env.exists():
        _say(f"secured (Kafka SASL_SSL, MinIO HTTPS); client settings: {paths.secure_env}")


def stop(name: str, paths: StackPaths | None = None) -> None:
    """Stop ``kafka`` or ``minio`` of this stack (SIGTERM, SIGKILL after 30 s)."""
    paths = paths or StackPaths.default()
    pid = _running(name, paths)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _pid_alive(pid, "") and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_alive(pid, ""):
        os.killpg(pid, signal.SIGKILL)
    (paths.state / f"{name}.pid").unlink(missing_ok=True)
    _say(f"stopped {name} (pid {pid})")


def start(name: str, paths: StackPaths | None = None) -> None:
    """Start ``kafka`` or ``minio`` again after ``stop``, with its data as it was."""
    paths = paths or StackPaths.default()
    kafka, storage = stack_settings(paths)
    if name == "kafka":
        _start_kafka(paths, kafka)
    elif name == "minio":
        _start_minio(paths, storage, kafka)
    else:
        raise ValueError(f"no such stack process: {name}")
    _say(f"started {name}")


def down(paths: StackPaths | None = None, wipe: bool = False) -> None:
    paths = paths or StackPaths.default()
    for name in ("minio", "kafka"):
        stop(name, paths)
    if wipe and paths.state.exists():
        shutil.rmtree(paths.state)
        _say(f"removed {paths.state}")


def status(paths: StackPaths | None = None) -> dict[str, int | None]:
    paths = paths or StackPaths.default()
    return {name: _running(name, paths) for name in ("kafka", "minio")}
