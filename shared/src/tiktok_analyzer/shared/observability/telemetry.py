"""Traces: OpenTelemetry, configured by the standard ``OTEL_*`` variables.

One trace per video, from ingest to the final report. The W3C ``traceparent`` travels in the
Kafka message headers: FastStream's ``KafkaTelemetryMiddleware`` (added by
``kafka.make_broker`` for a service) extracts it on every consume and injects it on every
publish made inside a handler, including publishes from worker threads (``asyncio.to_thread``
and ``run_coroutine_threadsafe`` both carry the caller's ``contextvars`` over). The aggregator,
a hand-written aiokafka loop, does the same by hand (``extract`` and ``consumer_span`` below).

Tracing is on only where an exporter has somewhere to send spans (``tracing_configured``):
``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` for the default
``otlp`` exporter (OTLP over HTTP/protobuf), or ``OTEL_TRACES_EXPORTER=console``. Otherwise no
tracer provider is installed and no middleware added: every span is OpenTelemetry's no-op,
nothing is exported and nothing tries to connect. (The OTLP specification would default the
endpoint to localhost:4318; here an unset endpoint means "off", so that a service run without
a collector never spends time on failing exports.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

TRACER_NAME = "tiktok_analyzer"
VIDEO_ID = "video.id"
"""Span attribute naming the video a span works on (never a metric label)."""

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: Any = None


def _env(name: str, environ: Mapping[str, str]) -> str:
    return environ.get(name, "").strip()


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    names = [n.strip().lower() for n in _env("OTEL_TRACES_EXPORTER", environ).split(",")]
    return [n for n in names if n] or ["otlp"]


def tracing_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for spans to be exported somewhere."""
    environ = os.environ if environ is None else environ
    if _env("OTEL_SDK_DISABLED", environ).lower() == "true":
        return False
    names = _exporter_names(environ)
    if "none" in names:
        return False
    has_endpoint = bool(_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", environ)
                        or _env("OTEL_EXPORTER_OTLP_ENDPOINT", environ))
    return ("otlp" in names and has_endpoint) or "console" in names


def setup_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install a tracer provider for ``service`` when tracing is configured; True if it was.

    The resource's ``service.name`` is ``OTEL_SERVICE_NAME`` (or ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES``) when set, else ``service``. Spans go through the batch span
    processor, whose schedule is read from ``OTEL_BSP_*``. The SDK flushes at interpreter exit.
    """
    global _provider
    environ = os.environ if environ is None else environ
    if _provider is not None or not tracing_configured(environ):
        return _provider is not None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    for name in _exporter_names(environ):
        if name == "otlp":
            protocol = (_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ)
                        or _env("OTEL_EXPORTER_OTLP_PROTOCOL", environ) or "http/protobuf")
            if protocol != "http/protobuf":
                log.warning("OTLP protocol %s is not installed; exporting with http/protobuf",
                            protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (otlp, console, none)", name)
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on: %s exporting as %s", ", ".join(_exporter_names(environ)),
             resource.attributes.get(SERVICE_NAME))
    return True


def enabled() -> bool:
    """Whether this process exports spans (``setup_tracing`` installed a provider)."""
    return _provider is not None


def shutdown() -> None:
    """Flush and stop the exporter (the SDK also does this at interpreter exit)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


# --- context across Kafka headers ----------------------------------------------------------


def headers_dict(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, Any] | None
                 ) -> dict[str, str]:
    """Kafka headers (aiokafka's list of ``(key, bytes)`` pairs, or a mapping) as text."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for key, value in items:
        if isinstance(value, bytes | bytearray):
            out[key] = bytes(value).decode("latin-1")
        elif value is not None:
            out[key] = str(value)
    return out


def extract(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, Any] | None) -> Context:
    """The trace context a message carries in its ``traceparent`` header (empty if none)."""
    return _PROPAGATOR.extract(headers_dict(headers), context=Context())


def inject(carrier: dict[str, str]) -> dict[str, str]:
    """Add the current trace context to ``carrier`` (message headers); returns it."""
    _PROPAGATOR.inject(carrier)
    return carrier


def span_context_of(ctx: Context) -> trace.SpanContext | None:
    """The span context held by ``ctx``, if it holds a valid one."""
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


@contextmanager
def consumer_span(topic: str, headers: Any, attributes: Mapping[str, Any] | None = None
                  ) -> Iterator[Span]:
    """A ``<topic> process`` consumer span, child of the context in ``headers`` (as
    FastStream's middleware names and parents it), current for the block."""
    parent = extract(headers)
    with tracer().start_as_current_span(
            f"{topic} process", context=parent, kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                        "messaging.operation": "process", **(attributes or {})}) as span:
        yield span


@contextmanager
def span(name: str, *, parent: Context | None = None, new_trace: bool = False,
         links: Iterable[trace.SpanContext | None] = (),
         attributes: Mapping[str, Any] | None = None,
         kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span]:
    """A span current for the block: a child of ``parent`` if given, else the root of a new
    trace with ``new_trace``, else a child of the current span; linked to ``links``."""
    if parent is None and new_trace:
        parent = Context()
    with tracer().start_as_current_span(
            name, context=parent, kind=kind,
            links=[Link(sc) for sc in links if sc is not None and sc.is_valid],
            attributes=dict(attributes or {})) as current:
        yield current


def context_of(span_context: trace.SpanContext) -> Context:
    """A context whose current span is ``span_context``: a parent for new spans."""
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), Context())


def current_span_context() -> trace.SpanContext | None:
    span_context = trace.get_current_span().get_span_context()
    return span_context if span_context.is_valid else None


def set_video(video_id: str | None) -> None:
    """Name the video on the current span (a no-op span ignores it)."""
    if video_id:
        trace.get_current_span().set_attribute(VIDEO_ID, video_id)


class isolated_context:
    """Run a block (or a message's handling) on an empty trace context and restore the
    caller's afterwards, even if something inside attached a context and did not detach."""

    def __enter__(self) -> None:
        self._token = otel_context.attach(Context())

    def __exit__(self, *exc: object) -> None:
        otel_context.detach(self._token)
