"""Telemetry captured in this process with the SDK's in-memory exporter and reader: for tests
(Workbench's and plugins') and for looking at spans from a Python shell.

OpenTelemetry's providers are process-wide and set once, so ``in_memory`` installs them on its
first call and returns the same pair after; clear the exporter between uses.
"""

from __future__ import annotations

from typing import Any

_installed: tuple[Any, Any] | None = None


def in_memory() -> tuple[Any, Any]:
    """(InMemorySpanExporter, InMemoryMetricReader), installed as this process's providers."""
    global _installed
    if _installed is None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _installed = (spans, reader)
    return _installed


def points(reader: Any, name: str, **attributes: Any) -> list[Any]:
    """The data points of metric ``name`` whose attributes include ``attributes``."""
    data = reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if all(point.attributes.get(key) == value for key, value in attributes.items())
    ]


def total(reader: Any, name: str, **attributes: Any) -> float:
    """A counter's value (a histogram's count; a gauge's value) summed over matching points."""
    found = points(reader, name, **attributes)
    return float(sum(getattr(p, "count", None) or getattr(p, "value", 0) or 0 for p in found))
