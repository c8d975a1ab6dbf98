"""The compose stack can't run here (no Docker engine); keep it consistent with the code."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sqlcompiler.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_compose_commands_and_env_match_the_cli():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "kafka", "relay", "serve", "attempts", "prometheus", "grafana",
            "migrate"} <= set(services)  # fmt: skip
    for name in ("relay", "serve", "attempts", "migrate"):
        cmd = services[name]["command"]
        assert cmd[0] in cli.commands, f"{name}: unknown command {cmd[0]}"
        sub = cli.commands[cmd[0]]
        if hasattr(sub, "commands") and len(cmd) > 1 and not cmd[1].startswith("-"):
            assert cmd[1] in sub.commands
    env = services["relay"]["environment"]
    assert set(env) >= {
        "SQLCOMPILER_DSN",
        "SQLCOMPILER_KAFKA_BOOTSTRAP",
        "SQLCOMPILER_METRICS_PORT",
        "SQLCOMPILER_METRICS_ADDR",
    }
    relay_opts = {o.envvar for o in cli.commands["relay"].params if getattr(o, "envvar", None)}
    assert {
        "SQLCOMPILER_METRICS_PORT",
        "SQLCOMPILER_METRICS_ADDR",
        "SQLCOMPILER_KAFKA_BOOTSTRAP",
    } <= relay_opts
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [
        f"relay:{env['SQLCOMPILER_METRICS_PORT']}",
        f"serve:{env['SQLCOMPILER_METRICS_PORT']}",
        f"attempts:{env['SQLCOMPILER_METRICS_PORT']}",
    ]
    # the one-shot nightly run reaches Prometheus through the Pushgateway
    assert "pushgateway" in services
    gateway = env["SQLCOMPILER_PUSHGATEWAY"]
    push = [c for c in prom["scrape_configs"] if c["job_name"] == "pushgateway"][0]
    assert push["honor_labels"] and push["static_configs"][0]["targets"] == [gateway]
    mounted = services["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/alerts.yml:") for v in mounted)
    assert any(v.split(":")[1] in prom["rule_files"] for v in mounted if "alerts" in v)


def _exported() -> set[str]:
    from sqlcompiler.infra import metrics

    names = {m.name for m in metrics.REGISTRY.collect()}
    return names | {f"{n}_total" for n in names}


def test_alert_rules_cover_staleness_failure_and_held_runs():
    rules = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())["groups"][0]["rules"]
    by_name = {r["alert"]: r["expr"] for r in rules}
    assert {"SqlcompilerNoSuccessIn26Hours", "SqlcompilerRunFailed", "SqlcompilerRunHeld"} <= set(
        by_name
    )
    assert "26 * 3600" in by_name["SqlcompilerNoSuccessIn26Hours"]
    for name, expr in by_name.items():
        assert any(n in expr for n in _exported()), f"{name} queries no exported metric"


def test_dashboard_queries_name_exported_metrics():
    from sqlcompiler.infra import metrics

    names = {m.name for m in metrics.REGISTRY.collect()}
    exported = names | {f"{n}_total" for n in names}
    dash = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "sqlcompiler.json").read_text())
    for panel in dash["panels"]:
        expr = panel["targets"][0]["expr"]
        assert any(n in expr for n in exported), (
            f"panel {panel['title']!r} queries no exported metric"
        )


def test_citus_compose_adds_every_worker_and_uses_real_commands():
    path = ROOT / "deploy" / "citus" / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    workers = {n for n in services if n.startswith("worker")}
    assert {"coordinator", "cluster", "migrate", "sqlcompiler"} <= set(services) and workers
    joined = " ".join(services["cluster"]["command"])
    assert all(f"citus_add_node('{w}', 5432)" in joined for w in workers)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    dsn = services["migrate"]["environment"]["SQLCOMPILER_DSN"]
    assert (
        "host=coordinator" in dsn
        and services["sqlcompiler"]["environment"] == services["migrate"]["environment"]
    )
    # the commands the header tells users to run exist, with the options it gives them
    for line in path.read_text().splitlines():
        if "run --rm sqlcompiler" not in line:
            continue
        words = line.split("run --rm sqlcompiler", 1)[1].split()
        command = cli.commands[words[0]]
        if hasattr(command, "commands") and len(words) > 1 and not words[1].startswith("-"):
            command = command.commands[words[1]]
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {w for w in words if w.startswith("--")} <= options, line
