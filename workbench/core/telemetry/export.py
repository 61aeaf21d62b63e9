"""Where telemetry goes: nowhere by default, so nothing is exported and nothing is paid.

OTLP over HTTP (traces and metrics) when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the
per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``) is set: the exporters read the
rest of the ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout, compression) themselves, and
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_EXPORTER=none``,
``OTEL_METRICS_EXPORTER=none`` and ``OTEL_SDK_DISABLED=true`` mean what they mean elsewhere.
A Prometheus ``/metrics`` endpoint on 127.0.0.1 when a port is given (``workbench watch
--metrics-port``, the ``metrics_port`` setting for the terminal UI).

The SDK is configured once per process (OpenTelemetry's providers are process-wide); in
offline mode an endpoint off this machine is refused, so nothing leaves it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from workbench import __version__
from workbench.core.foreground import wait_idle
from workbench.errors import WorkbenchError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
DEFAULT_TIMEOUT_S = 5.0  # the SDK's default is 10 s, a long wait at exit with no collector
MAX_DEFER_S = 60.0  # an export waits at most this long for interactive work to end


@dataclass
class Exporting:
    """What this process exports, and why not where it was asked to and did not."""

    traces: str | None = None  # the OTLP/HTTP traces endpoint
    metrics: str | None = None  # the OTLP/HTTP metrics endpoint
    prometheus: str | None = None  # the /metrics URL
    refused: str | None = None  # a message when an endpoint was refused (offline mode)

    @property
    def active(self) -> bool:
        return bool(self.traces or self.metrics or self.prometheus)


_configured: Exporting | None = None


def endpoint(signal: str, environ: Mapping[str, str]) -> str | None:
    """The OTLP/HTTP endpoint for ``signal`` ("traces" or "metrics"), or None for none."""
    if environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower() == "none":
        return None
    specific = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if specific:
        return specific
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{base.rstrip('/')}/v1/{signal}" if base else None


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_protocol(signal: str, environ: Mapping[str, str]) -> None:
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(name, "").strip().lower()
        if protocol and protocol != "http/protobuf":
            raise WorkbenchError(
                f"{name}={protocol} is not supported: Workbench exports OTLP over HTTP with "
                "protobuf. Set it to http/protobuf (or unset it) and point "
                "OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port, usually 4318.",
                "Telemetry not started",
            )
        if protocol:
            return


def configure(
    *, metrics_port: int = 0, offline: bool = False, environ: Mapping[str, str] | None = None
) -> Exporting:
    """Set up export for this process (once; later calls return what the first set up)."""
    global _configured
    if _configured is not None:
        return _configured
    environ = os.environ if environ is None else environ
    plan = Exporting()
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        _configured = plan
        return plan
    for signal in ("traces", "metrics"):
        url = endpoint(signal, environ)
        if url is None:
            continue
        _check_protocol(signal, environ)
        if offline and not is_loopback(url):
            plan.refused = (
                f"Offline: telemetry is not exported to {urlsplit(url).netloc}. Use a collector "
                "on this machine (127.0.0.1) or leave offline mode."
            )
            continue
        setattr(plan, signal, url)
    server = _serve_prometheus(metrics_port) if metrics_port else None
    if metrics_port:
        plan.prometheus = f"http://127.0.0.1:{metrics_port}/metrics"
    if plan.active:
        _install(plan, environ, server)
    _configured = plan
    return plan


def _timeout(signal: str, environ: Mapping[str, str]) -> float | None:
    """Ours, unless the standard variables set one (None: the exporter reads them)."""
    named = (f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    return None if any(environ.get(name) for name in named) else DEFAULT_TIMEOUT_S


def _install(plan: Exporting, environ: Mapping[str, str], prometheus: Any) -> None:
    """Make the SDK's providers the process's, with the exporters ``plan`` names."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, str] = {"service.version": __version__}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "workbench"
    resource = Resource.create(attributes)
    if plan.traces:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracing = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(timeout=_timeout("traces", environ))
        tracing.add_span_processor(BatchSpanProcessor(deferring_spans(exporter)))
        trace.set_tracer_provider(tracing)
    readers: list[MetricReader] = []
    if plan.metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        pushing = OTLPMetricExporter(timeout=_timeout("metrics", environ))
        readers.append(PeriodicExportingMetricReader(deferring_metrics(pushing)))
    if prometheus is not None:
        readers.append(prometheus)
    if readers:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def deferring_spans(exporter: Any) -> Any:
    """``exporter``, whose exports wait while an answer or a search runs in this process
    (at most ``MAX_DEFER_S``): serialising and posting telemetry on a thread of its own
    would otherwise preempt the chat model's threads, which stall each other at every barrier
    on a machine with few cores. Spans queue meanwhile (the batch processor holds 2,048)."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class DeferringSpanExporter(SpanExporter):
        def export(self, spans: Any) -> Any:
            wait_idle(MAX_DEFER_S)
            return exporter.export(spans)

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    return DeferringSpanExporter()


def deferring_metrics(exporter: Any) -> Any:
    """``exporter`` for metrics, its exports waiting as ``deferring_spans``' do."""
    from opentelemetry.sdk.metrics.export import MetricExporter

    class DeferringMetricExporter(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            wait_idle(MAX_DEFER_S)
            return exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return bool(exporter.force_flush(timeout_millis=timeout_millis))

    return DeferringMetricExporter(
        preferred_temporality=exporter._preferred_temporality,
        preferred_aggregation=exporter._preferred_aggregation,
    )


def _serve_prometheus(port: int) -> Any:
    """A Prometheus reader, its /metrics served on 127.0.0.1:``port`` (never other hosts)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    reader = PrometheusMetricReader()
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        raise WorkbenchError(
            f"Cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}. Pick another "
            "port with --metrics-port (or the metrics_port setting), or stop what uses it.",
            "Metrics port in use",
        ) from None
    return reader
