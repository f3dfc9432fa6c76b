"""promtool check/test of the engine's rules, and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml
from k8s_static import REPO

MONITORING = REPO / "monitoring"
ENGINE_METRICS = (
    "decision_latency_us",
    "orders_per_second",
    "position_pnl",
    "risk_var_95",
    "sharpe_ratio",
    "portfolio_drawdown_ratio",
)
CIRCUIT_BREAKERS = {
    "Bot4DrawdownCircuitBreaker": ("portfolio_drawdown_ratio", "> 0.20"),
    "Bot4DecisionLatencyP99High": ("bot4:decision_latency_us:p99_5m", "> 200"),
    "Bot4ErrorRateHigh": ("bot4:order_error:ratio_5m", "> 0.05"),
}


def _groups():
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    return rule["spec"]["groups"]


def _rules_dir(tmp_path):
    (tmp_path / "bot4-trading-engine.rules.yml").write_text(yaml.safe_dump({"groups": _groups()}, sort_keys=False))
    shutil.copy(MONITORING / "tests" / "bot4-trading-engine.test.yml", tmp_path)
    return tmp_path


def test_promtool_check_rules(promtool, tmp_path):
    d = _rules_dir(tmp_path)
    proc = subprocess.run([promtool, "check", "rules", str(d / "bot4-trading-engine.rules.yml")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_test_rules(promtool, tmp_path):
    d = _rules_dir(tmp_path)
    proc = subprocess.run([promtool, "test", "rules", "bot4-trading-engine.test.yml"],
                          cwd=d, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_tests_catch_a_wrong_threshold(promtool, tmp_path):
    """The unit tests are not vacuous: loosening a breaker makes them fail."""
    d = _rules_dir(tmp_path)
    rules = d / "bot4-trading-engine.rules.yml"
    rules.write_text(rules.read_text().replace("portfolio_drawdown_ratio) > 0.2", "portfolio_drawdown_ratio) > 0.3"))
    proc = subprocess.run([promtool, "test", "rules", "bot4-trading-engine.test.yml"],
                          cwd=d, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "Bot4DrawdownCircuitBreaker" in proc.stdout + proc.stderr


def test_circuit_breakers_are_defined_and_tested():
    alerts = {r["alert"]: r for g in _groups() for r in g["rules"] if "alert" in r}
    tests = (MONITORING / "tests" / "bot4-trading-engine.test.yml").read_text()
    for name, (metric, threshold) in CIRCUIT_BREAKERS.items():
        expr = re.sub(r"\s+", " ", alerts[name]["expr"])
        assert metric in expr and threshold in expr, (name, expr)
        assert alerts[name]["labels"]["severity"] == "critical"
        assert f"alertname: {name}" in tests
    for name in alerts:
        assert f"alertname: {name}" in tests, f"{name} has no promtool test"


def test_dashboard_covers_the_engine_metrics():
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dash["uid"] == "bot4-trading-engine"
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    joined = "\n".join(exprs)
    for metric in ENGINE_METRICS:
        assert metric in joined, f"no panel shows {metric}"
    recorded = {r["record"] for g in _groups() for r in g["rules"] if "record" in r}
    for used in re.findall(r"bot4:[a-z0-9_:]+", joined):
        assert used in recorded, f"dashboard uses {used}, which no rule records"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_prometheus_adapter_serves_the_hpa_custom_metrics(rendered, promtool, tmp_path):
    """Every Pods metric of the production HPA has an adapter rule, and each
    rule's query (templates filled in as the adapter does) is valid PromQL."""
    cm = yaml.safe_load((MONITORING / "prometheus-adapter-rules.yaml").read_text())
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    served = {r["name"]["as"] for r in rules}
    hpa = next(d for d in rendered["production"] if d["kind"] == "HorizontalPodAutoscaler")
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    assert wanted and wanted <= served, (wanted, served)
    assert {"decision_latency_us", "orders_per_second"} <= served
    groups = [{"name": "adapter", "rules": []}]
    for r in rules:
        series = re.match(r"[a-z_:]+", r["seriesQuery"]).group(0)
        expr = (r["metricsQuery"].replace("<<.Series>>", series)
                .replace("<<.LabelMatchers>>", 'namespace="bot4-trading",pod=~"e-1|e-2"')
                .replace("<<.GroupBy>>", "pod"))
        assert "<<" not in expr, expr
        groups[0]["rules"].append({"record": f"adapter:{r['name']['as']}", "expr": expr})
    (tmp_path / "adapter.rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    proc = subprocess.run([promtool, "check", "rules", str(tmp_path / "adapter.rules.yml")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
