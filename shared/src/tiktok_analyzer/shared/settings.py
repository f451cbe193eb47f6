"""Settings read from the environment (prefix ``TIKTOK_``), frozen, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
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


class StorageSettings(_Base):
    model_config = SettingsConfigDict(env_prefix="TIKTOK_S3_", frozen=True, extra="ignore")

    endpoint: str = "127.0.0.1:19000"
    access_key: str = "tiktokadmin"
    secret_key: SecretStr = SecretStr("tiktokadmin-secret")
    secure: bool = False
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
    inline_limit_bytes: int = Field(
        default=256 * 1024, description="Payloads above this go to the blob store by reference"
    )


class PipelineSettings(_Base):
    """Which analyzers each group runs. Sampler and consumer services read the same variables,
    so the manifest's expectations and the services' work agree."""

    model_config = SettingsConfigDict(env_prefix="TIKTOK_ANALYZERS_", frozen=True, extra="ignore")

    gpu_heavy: list[str] = Field(default_factory=lambda: ["objects"])
    gpu_light: list[str] = Field(default_factory=lambda: ["color", "quality"])
    audio: list[str] = Field(default_factory=lambda: ["audio_features"])

    def for_group(self, group: str) -> list[str]:
        return list(getattr(self, str(group)))
