"""deploy/prometheus/authsite-alerts.yml: well formed, and every rule watches a real series.

A rule on a misspelt metric, label or action never fires and never errors, so
each expression is checked against what common/metrics.py declares and what
audit/events.py catalogues. PyYAML is not a dependency: without it the file is
read by a parser for the small YAML subset it is written in (and with it, both
must agree).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from audit.events import Action, Outcome
from common import metrics

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "authsite-alerts.yml"
DURATION = re.compile(r"^\d+[smhd]$")
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


# --- reading the file -----------------------------------------------------------------


def parse_yaml_subset(text: str):
    """Block mappings, block sequences of mappings, plain and double-quoted scalars, ``>-``."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append([len(raw) - len(raw.lstrip(" ")), stripped])

    def scalar(text: str):
        if text.startswith('"'):
            return json.loads(text)
        assert not text.startswith(("'", "{", "[", "&", "*", "!", "|")), f"unsupported: {text}"
        return text

    def block(i: int, indent: int):
        if lines[i][1].startswith("- "):
            return sequence(i, indent)
        return mapping(i, indent)

    def sequence(i: int, indent: int):
        items = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            lines[i] = [indent + 2, lines[i][1][2:]]
            item, i = mapping(i, indent + 2)
            items.append(item)
        return items, i

    def mapping(i: int, indent: int):
        result = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, colon, rest = lines[i][1].partition(":")
            assert colon and key not in result, f"line {lines[i]}"
            rest = rest.strip()
            i += 1
            if rest == ">-":
                folded = []
                while i < len(lines) and lines[i][0] > indent:
                    folded.append(lines[i][1])
                    i += 1
                result[key] = " ".join(folded)
            elif rest:
                result[key] = scalar(rest)
            else:
                assert i < len(lines) and lines[i][0] > indent, f"{key} has no value"
                result[key], i = block(i, lines[i][0])
        assert i == len(lines) or lines[i][0] < indent, f"bad indentation at {lines[i]}"
        return result, i

    document, end = block(0, lines[0][0])
    assert end == len(lines)
    return document


def load_rules() -> dict:
    text = RULES.read_text(encoding="utf-8")
    document = parse_yaml_subset(text)
    try:
        import yaml
    except ImportError:
        return document
    assert yaml.safe_load(text) == document
    return document


def all_rules() -> list[dict]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"]]


def declared_metrics() -> dict[str, MetricWrapperBase]:
    """Every series name authsite exports, mapped to the metric that exports it."""
    series = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            for suffix in SERIES_SUFFIXES[metric._type]:
                series[metric._name + suffix] = metric
    return series


# --- the checks -----------------------------------------------------------------------


def test_the_file_has_named_groups_of_complete_rules():
    document = load_rules()
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)) and all(names)
    alerts = [rule["alert"] for rule in all_rules()]
    assert len(alerts) == len(set(alerts)), "alert names are unique"
    for rule in all_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"Authsite[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert "for" not in rule or DURATION.match(rule["for"])


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule["alert"])
def test_each_expression_watches_series_authsite_exports(rule):
    series = declared_metrics()
    expr = rule["expr"]
    used = set(re.findall(r"\bauthsite_[a-z0-9_]+", expr))
    assert used, "the expression names an authsite metric"
    assert used <= set(series), f"not declared in common/metrics.py: {used - set(series)}"
    labels = {name for metric in used for name in series[metric]._labelnames}
    for label, value in re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', expr):
        assert label in labels, f"{label} is not a label of {used}"
        if label == "action":
            assert value in Action.values, f"{value} is not in audit.events.Action"
        if label == "outcome" and "authsite_audit_events_total" in used:
            assert value in Outcome.values
    for group_by in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        assert {name.strip() for name in group_by.split(",")} <= labels
    assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")


@pytest.mark.parametrize(
    ("watched", "severities"),
    [
        ('action="auth.login.failed"', {"warning", "critical"}),
        ('action="oauth.refresh_token.reused"', {"critical"}),
        ('action="oauth.code.replayed"', {"critical"}),
        ("authsite_health_check_failures_total", {"warning"}),
    ],
)
def test_the_security_signals_each_have_an_alert(watched, severities):
    found = {rule["labels"]["severity"] for rule in all_rules() if watched in rule["expr"]}
    assert found == severities
