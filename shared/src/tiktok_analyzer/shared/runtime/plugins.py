"""Discovery: every analyzer is a module in its group's ``analyzers`` package.

``discover()`` imports each module of ``tiktok_analyzer.<group>.analyzers`` (as Frigate finds
its detector plugins) and collects the concrete ``Analyzer`` classes defined there, so adding
an analyzer is adding one module (plus a model-lock entry when it has weights). Modules whose
name starts with ``_`` are helpers. Importing an analyzer module is cheap by contract: heavy
libraries are imported in ``load()``. A group whose service package is not installed simply
contributes nothing.

Each plugin is checked once here, so a mistake fails at start-up with its module named:
its key is unique, its group matches its package, its declared headline fields exist in the
report, and its model-lock entry is pinned.

Report analyzers (``report_analyzers``), which the aggregator runs over other analyzers'
sections, are modules of ``tiktok_analyzer.aggregator.analyzers``, found the same way by
``discover_report()``; their keys share one namespace with the group analyzers'.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import Analyzer, AnyAnalyzer, AudioPolicy, FramePolicy
from tiktok_analyzer.shared.runtime.report_analyzers import (
    AnyReportAnalyzer,
    ReportAnalyzer,
    report_order,
)

AnalyzerClass = type[AnyAnalyzer]
ReportAnalyzerClass = type[AnyReportAnalyzer]
REPORT_PACKAGE = "tiktok_analyzer.aggregator.analyzers"


def group_package(group: Group) -> str:
    return f"tiktok_analyzer.{group}.analyzers"


def _import_group(group: Group) -> ModuleType | None:
    return _import_package(group_package(group))


def _import_package(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None  # the service package is not installed here
        raise


def _plugin_modules(package: ModuleType) -> list[ModuleType]:
    """The package's modules by name; those starting with ``_`` are helpers."""
    return [importlib.import_module(f"{package.__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
            if not info.name.startswith("_")]


def _classes_in(module: ModuleType, base: type[Any]) -> list[Any]:
    return [obj for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, base)
            and obj.__module__ == module.__name__ and not inspect.isabstract(obj)]


@functools.cache
def discover() -> dict[str, AnalyzerClass]:
    """Every installed analyzer by key, groups in pipeline order, modules by name."""
    found: dict[str, AnalyzerClass] = {}
    for group in Group:
        package = _import_group(group)
        if package is None:
            continue
        for module in _plugin_modules(package):
            cls: AnalyzerClass
            for cls in _classes_in(module, Analyzer):
                check_plugin(cls, group)
                if cls.key in found:
                    raise ConfigError(f"two analyzers claim the key {cls.key!r}: "
                                      f"{found[cls.key].__module__} and {cls.__module__}")
                found[cls.key] = cls
    return found


def check_plugin(cls: AnalyzerClass, group: Group) -> None:
    """The declarations every plugin must get right, checked at discovery."""
    from tiktok_analyzer.shared.contracts.report import ReportSummary

    where = f"analyzer {cls.__module__}.{cls.__name__}"
    for attr in ("key", "group", "inputs", "config_model", "record_model"):
        if not hasattr(cls, attr):
            raise ConfigError(f"{where} does not declare {attr}")
    if cls.group is not group:
        raise ConfigError(f"{where} says group {cls.group} but lives in {group}'s package")
    if cls.group is Group.AUDIO and not isinstance(cls.inputs, AudioPolicy):
        raise ConfigError(f"{where}: an audio analyzer's inputs must be an AudioPolicy")
    if cls.group is not Group.AUDIO and not isinstance(cls.inputs, FramePolicy):
        raise ConfigError(f"{where}: a frame analyzer's inputs must be a FramePolicy")
    _check_kind(cls.config_model, cls.key, where)
    for name in cls.headline:
        if name not in ReportSummary.model_fields:
            raise ConfigError(f"{where} fills headline field {name!r}, which the report's "
                              "ReportSummary does not have")
    if cls.model_entry is not None:
        from tiktok_analyzer.shared.runtime.models import load_lock

        if cls.model_entry not in load_lock():
            raise ConfigError(f"{where} names model-lock entry {cls.model_entry!r}, which the "
                              "model lock does not pin")


def _check_kind(config_model: type[Any], key: str, where: str) -> None:
    kind = config_model.model_fields.get("kind")
    if kind is None or kind.default != key:
        raise ConfigError(f"{where}: its config needs kind: Literal[{key!r}] = {key!r}")


@functools.cache
def discover_report() -> dict[str, ReportAnalyzerClass]:
    """Every installed report analyzer by key (run by the aggregator, in ``report_order``)."""
    found: dict[str, ReportAnalyzerClass] = {}
    package = _import_package(REPORT_PACKAGE)
    if package is None:
        return found
    group_keys = discover()
    for module in _plugin_modules(package):
        cls: ReportAnalyzerClass
        for cls in _classes_in(module, ReportAnalyzer):
            check_report_plugin(cls)
            if cls.key in found or cls.key in group_keys:
                other = found.get(cls.key) or group_keys[cls.key]
                raise ConfigError(f"two analyzers claim the key {cls.key!r}: "
                                  f"{other.__module__} and {cls.__module__}")
            found[cls.key] = cls
    report_order([cls() for cls in found.values()])  # a cycle fails here, not per video
    return found


def check_report_plugin(cls: ReportAnalyzerClass) -> None:
    """What every report analyzer must declare, checked at discovery."""
    where = f"report analyzer {cls.__module__}.{cls.__name__}"
    for attr in ("key", "config_model", "record_model", "summary_model"):
        if not hasattr(cls, attr):
            raise ConfigError(f"{where} does not declare {attr}")
    _check_kind(cls.config_model, cls.key, where)
    if cls.key in cls.requires:
        raise ConfigError(f"{where} requires itself")


def installed_keys() -> frozenset[str]:
    """Every installed analyzer's key, group and report analyzers alike."""
    return frozenset(discover()) | frozenset(discover_report())


def in_group(group: Group) -> dict[str, AnalyzerClass]:
    return {key: cls for key, cls in discover().items() if cls.group is group}


def enabled_by_default(group: Group) -> list[str]:
    return [key for key, cls in in_group(group).items() if cls.enabled_by_default]


def provider_of(name: str) -> str | None:
    """The analyzer that fills headline field ``name``."""
    for key, cls in discover().items():
        if name in cls.headline:
            return key
    return None


def frame_policies(keys: Sequence[str], configs: Mapping[str, Mapping[str, Any]]
                   ) -> dict[str, FramePolicy]:
    """The frame policy of each of ``keys`` with its settings (what the sampler samples)."""
    from tiktok_analyzer.shared.runtime.analyzers import build_analyzers

    policies: dict[str, FramePolicy] = {}
    for analyzer in build_analyzers(keys, configs):
        policy = analyzer.frame_policy(analyzer.config)
        if policy is not None:
            policies[analyzer.key] = policy
    return policies
