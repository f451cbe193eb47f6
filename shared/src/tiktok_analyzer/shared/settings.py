"""Settings read from the environment (prefix ``TIKTOK_``), frozen, unknown keys rejected."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIKTOK_", frozen=True, extra="forbid", env_nested_delimiter="__"
    )


class KafkaSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="TIKTOK_KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    max_message_bytes: int = Field(
        default=1_000_000, description="Largest message a producer may send (broker default ~1 MB)"
    )
    max_event_bytes: int = Field(
        default=1_000_000, gt=0,
        description="The largest message a consumer accepts; larger ones are dead-lettered")
    # Every Kafka client of the project is built from these (infra/security.py); the default is
    # the plain loopback stack. Secrets come from the environment or a mounted file only.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        default=None, description="A mounted secret holding the SASL password (instead of "
                                  "TIKTOK_KAFKA_SASL_PASSWORD); one trailing newline is ignored")
    ssl_cafile: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates "
                                  "(default: the system's trust store)")
    ssl_certfile: Path | None = Field(default=None, description="PEM client certificate (mTLS)")
    ssl_keyfile: Path | None = Field(default=None, description="PEM key of ssl_certfile")

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            if not self.sasl_username:
                raise ValueError(f"{self.security_protocol} needs TIKTOK_KAFKA_SASL_USERNAME")
            if (self.sasl_password is None) == (self.sasl_password_file is None):
                raise ValueError(f"{self.security_protocol} needs exactly one of "
                                 "TIKTOK_KAFKA_SASL_PASSWORD and TIKTOK_KAFKA_SASL_PASSWORD_FILE")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("TIKTOK_KAFKA_SSL_CERTFILE and TIKTOK_KAFKA_SSL_KEYFILE go together")
        return self

    def sasl_secret(self) -> SecretStr | None:
        """The SASL password, read from its file at each call (a rotated Secret is picked up
        by the next client built)."""
        if self.sasl_password_file is not None:
            text = self.sasl_password_file.read_text()
            return SecretStr(text[:-1] if text.endswith("\n") else text)
        return self.sasl_password


class StorageSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="TIKTOK_S3_", frozen=True, extra="ignore")

    endpoint: str = "127.0.0.1:19000"
    access_key: str = "tiktokadmin"
    secret_key: SecretStr = SecretStr("tiktokadmin-secret")
    secret_key_file: Path | None = Field(
        default=None, description="A mounted secret holding the secret key (wins over "
                                  "TIKTOK_S3_SECRET_KEY); one trailing newline is ignored")
    secure: bool = Field(default=False, description="HTTPS to MinIO")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed MinIO's certificate (default: "
                                  "SSL_CERT_FILE, else certifi's bundle, as the MinIO client does)")

    def secret(self) -> SecretStr:
        if self.secret_key_file is not None:
            text = self.secret_key_file.read_text()
            return SecretStr(text[:-1] if text.endswith("\n") else text)
        return self.secret_key
    upload_bucket: str = "uploads"
    work_bucket: str = Field(
        default="work", description="Frame and audio payloads too big to travel inline"
    )
    report_bucket: str = "reports"


class ModelStoreSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="TIKTOK_MODEL_", frozen=True, extra="ignore")

    store: Path = Field(
        default=Path.home() / ".cache" / "tiktok-analyzer" / "models",
        description="Folder holding pretrained weights, one subfolder per analyzer",
    )
    device: str = Field(default="auto", description="auto (CUDA when present), cpu or cuda[:N]")


class SamplingSettings(_Base):
    """How the sampler turns one video into batches for each group."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_SAMPLING_", frozen=True, extra="ignore")

    heavy_interval_s: float = Field(default=3.0, gt=0, description="One heavy frame every N s")
    heavy_max_side: int = Field(default=640, description="Longest side of heavy frames, pixels")
    heavy_batch: int = Field(default=4, ge=1)
    light_fps: float = Field(default=2.0, gt=0, description="Light frames per second")
    light_max_side: int = Field(default=480, description="Longest side of light frames, pixels")
    light_batch: int = Field(default=8, ge=1)
    jpeg_quality: int = Field(default=85, ge=10, le=100)
    audio_sample_rate: int = Field(default=16_000, description="Mono PCM rate the audio models use")
    audio_chunk_s: float = Field(default=10.0, gt=0)
    audio_overlap_s: float = Field(
        default=1.0, ge=0,
        description="Seconds each audio chunk repeats of the previous one; below audio_chunk_s")
    heavy_shot_starts: bool = Field(
        default=True, description="Also send the first frame of every shot to gpu_heavy")
    shot_threshold: float = Field(
        default=30.0, gt=0,
        description="Cut score (mean absolute difference of tiny luma + chroma thumbnails of "
                    "consecutive frames, luma plus half the chroma, 0-255 scale) that starts a "
                    "new shot")
    shot_min_len_s: float = Field(
        default=0.2, ge=0,
        description="A hard cut closer than this to the last one is ignored (flashes and fast "
                    "motion are told apart from cuts without it)")
    decoder_threads: int = Field(
        default=0, ge=0,
        description="Video decoder threads; 0 lets FFmpeg choose (CPU cores + 1)")
    inline_limit_bytes: int = Field(
        default=256 * 1024, description="Payloads above this go to the blob store by reference"
    )


class GateSettings(_Base):
    """Limits and allowlists of the ingest media gate. A file outside them is rejected with a
    reason before anything decodes it. Lists are JSON in the environment, e.g.
    ``TIKTOK_GATE_VIDEO_CODECS='["h264","hevc"]'``."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_GATE_", frozen=True, extra="ignore")

    max_file_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_duration_s: float = Field(default=1200.0, gt=0, description="20 minutes")
    max_side: int = Field(default=4096, gt=0, description="Largest width or height, pixels")
    min_side: int = Field(default=16, gt=0, description="Smallest width or height, pixels")
    max_fps: float = Field(default=240.0, gt=0)
    min_audio_rate: int = Field(default=8_000, gt=0)
    max_audio_rate: int = Field(default=192_000, gt=0)
    max_streams: int = Field(
        default=64, gt=0, description="Audio, video and subtitle streams (attachments such as "
                                      "fonts and cover pictures do not count); far above any "
                                      "recording, a bound on crafted files")
    containers: list[str] = Field(
        default_factory=lambda: ["mov", "mp4", "m4a", "3gp", "matroska", "webm", "mpegts",
                                 "mp3", "ogg", "wav", "flac", "aac", "ac3", "eac3", "dts",
                                 "aiff", "caf", "gif", "ivf"],
        description="FFmpeg demuxer names (any name of a demuxer's alias list counts)")
    video_codecs: list[str] = Field(
        default_factory=lambda: ["h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "gif"])
    audio_codecs: list[str] = Field(
        default_factory=lambda: ["aac", "opus", "mp3", "vorbis", "flac", "ac3", "eac3", "dts",
                                 "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be",
                                 "pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f32be",
                                 "pcm_f64le", "pcm_u8", "pcm_mulaw", "pcm_alaw"])
    probe_timeout_s: float = Field(default=20.0, gt=0, description="Wall limit of the probe")
    probe_memory_bytes: int = Field(
        default=1024**3, gt=0, description="Address-space limit of the probe subprocess")


class IngestSettings(_Base):
    """The ingest service: HTTP API, reconciler, and where it records what it has seen."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_INGEST_", frozen=True, extra="ignore")

    http_enabled: bool = Field(default=True, description="Serve the HTTP API and health probes")
    http_host: str = "127.0.0.1"
    http_port: int = 18080
    reconcile_interval_s: float = Field(
        default=60.0, gt=0, description="How often the reconciler lists the upload bucket")
    reconcile_grace_s: float = Field(
        default=120.0, ge=0,
        description="Objects younger than this are left to their notification")
    ledger_prefix: str = Field(
        default="ledger", description="Prefix in the work bucket for ingest's records")


class AggregatorSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="TIKTOK_AGGREGATOR_", frozen=True,
                                      extra="ignore")

    deadline_s: float = Field(
        default=600.0, gt=0,
        description="From the first message about a video to its partial report, if results "
                    "are still missing")
    late_window_s: float = Field(
        default=3600.0, ge=0,
        description="How long after a partial report late results may still complete it "
                    "(a new report version)")
    check_interval_s: float = Field(
        default=1.0, gt=0, description="How often deadlines are checked")
    handler_attempts: int = Field(
        default=3, ge=1,
        description="Tries of a message whose handling raises (not an outage: those are "
                    "waited out) before it is dead-lettered")


class ObservabilitySettings(_Base):
    """Metrics and health endpoints, logs. Traces are configured by the standard ``OTEL_*``
    variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``, ...)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_OBS_", frozen=True, extra="ignore")

    enabled: bool = Field(default=True, description="Serve /metrics and /healthz/* ")
    host: str = Field(default="127.0.0.1", description="0.0.0.0 in containers")
    port: int | None = Field(
        default=None, description="Defaults to the service's port in topics.SERVICES")
    json_logs: bool = Field(default=True, description="One JSON object per log line")
    log_level: str = "INFO"

    def port_for(self, service: str) -> int:
        from tiktok_analyzer.shared.contracts.topics import SERVICES, Service

        return self.port if self.port is not None else SERVICES[Service(service)].obs_port


def _enabled_by_default(group: str) -> list[str]:
    # Imported here: discovery imports the analyzer plugins, which import this module.
    from tiktok_analyzer.shared.contracts.events import Group
    from tiktok_analyzer.shared.runtime.plugins import enabled_by_default

    return enabled_by_default(Group(group))


class PipelineSettings(_Base):
    """Which analyzers each group runs, and their settings. Sampler and consumer services read
    the same variables, so the manifest's expectations and the services' work agree.

    Settings per analyzer come from a TOML file (``TIKTOK_ANALYZERS_SETTINGS_FILE``, one table
    per analyzer key) and/or JSON in ``TIKTOK_ANALYZERS_SETTINGS``; the variable wins key by
    key. Each analyzer validates its own table (unknown fields are errors)."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_ANALYZERS_", frozen=True, extra="ignore")

    gpu_heavy: list[str] = Field(
        default_factory=lambda: _enabled_by_default("gpu_heavy"),
        description="Default: every gpu_heavy analyzer that is enabled by default")
    gpu_light: list[str] = Field(
        default_factory=lambda: _enabled_by_default("gpu_light"),
        description="Default: every gpu_light analyzer that is enabled by default")
    audio: list[str] = Field(
        default_factory=lambda: _enabled_by_default("audio"),
        description="Default: every audio analyzer that is enabled by default")
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='e.g. {"pitch": {"fmax_hz": 600}}')
    settings_file: Path | None = Field(
        default=None, description="TOML file with one table per analyzer key")

    @model_validator(mode="after")
    def _settings_name_enabled_analyzers(self) -> PipelineSettings:
        enabled = {key for group in ("gpu_heavy", "gpu_light", "audio")
                   for key in getattr(self, group)}
        unknown = sorted(set(self.analyzer_settings()) - enabled)
        if unknown:
            raise ValueError(f"settings given for analyzers that are not enabled: {unknown}")
        return self

    def for_group(self, group: str) -> list[str]:
        return list(getattr(self, str(group)))

    def analyzer_settings(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        if self.settings_file is not None:
            merged.update(tomllib.loads(self.settings_file.read_text()))
        for key, values in self.settings.items():
            merged[key] = {**merged.get(key, {}), **values}
        return merged

    def settings_for_group(self, group: str) -> dict[str, dict[str, Any]]:
        everything = self.analyzer_settings()
        return {key: everything[key] for key in self.for_group(group) if key in everything}
