"""Observability: what Prometheus would scrape and select, what it would alert on (every
expression parsed by a real PromQL parser), what Alertmanager and Grafana get, where
the logs go and with which rights, and the settings that drive it."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import promql_parser
import pytest
import yaml

from components.app import manifests as m
from components.cluster import iam_policies, kubeadm
from components.config import settings as stack_settings
from components.platform import logs, monitoring
from tests.conftest import graph_for, node_pool_resources, rendered_for, stack_config
from tools import crd_schema, harness, helm_render, plan, reachability, render

STACKS = ("dev", "staging", "prod", "local")
AWS_STACKS = ("dev", "staging", "prod")
CUSTOM = "kubernetes:monitoring.coreos.com/v1:"


def custom_objects(graph: harness.Graph, kind: str) -> list[dict[str, Any]]:
    return [r.inputs for r in graph.of_type(CUSTOM + kind)]


def stack_release(stack: str, name: str) -> helm_render.Rendered:
    return rendered_for(stack)[name]


def containers(pod_owner: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_owner["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


# -- settings ------------------------------------------------------------------------------------


def problems_of(config: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    raw = {k.removeprefix("podium:"): v for k, v in config.items() if k.startswith("podium:")}
    try:
        stack_settings.from_config(
            raw, project="podium", stack="dev", aws_region=config.get("aws:region"), secret_keys=secret_keys
        )
    except stack_settings.SettingsError as error:
        return error.problems
    return []


def test_bad_observability_settings_are_refused_each_naming_its_key() -> None:
    config = stack_config("dev")
    config["podium:observability"] |= {
        "metricsRetentionDays": 0,
        "metricsStorageGb": 2,
        "logRetentionDays": 10,
        "apiErrorPercent": 101,
        "apiP99LatencyMs": 0,
    }
    config["podium:alertWebhookUrl"] = "http://hooks.example.com/x"
    assert problems_of(config) == [
        "podium:observability.metricsRetentionDays: 0 must be between 1 and 365",
        "podium:observability.metricsStorageGb: 2 must be at least 5",
        "podium:observability.logRetentionDays: 10 is not a CloudWatch Logs retention period "
        "(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)",
        "podium:observability.apiErrorPercent: 101 must be between 1 and 100",
        "podium:observability.apiP99LatencyMs: 0 must be positive",
        "podium:alertWebhookUrl: must be an https:// URL with a host",
        "podium:alertWebhookUrl: holds a credential: set it with `pulumi config set --secret podium:alertWebhookUrl ...`",
    ]
    config["podium:alertWebhookUrl"] = "https://hooks.example.com/x"
    assert not any("alertWebhookUrl" in p for p in problems_of(config, frozenset({"alertWebhookUrl"})))


def test_cloudwatch_logs_need_an_aws_cluster_and_the_error_says_what_to_use() -> None:
    config = stack_config("local")
    config["podium:observability"]["logs"] = "cloudwatch"
    assert problems_of(config) == [
        "podium:observability.logs: cloudwatch needs cluster.mode kubeadm (an AWS account): use stdout or off"
    ]
    config["podium:observability"]["logs"] = "splunk"
    assert problems_of(config) == ["podium:observability.logs: 'splunk' must be one of cloudwatch, stdout, off"]


def test_observability_off_deploys_none_of_it() -> None:
    config = stack_config("dev")
    config["podium:observability"]["enabled"] = False
    graph = harness.run("dev", config)
    assert [r.name for r in graph.resources if "observability" in r.urn] == []
    assert [r.name for r in graph.resources if "db-metrics" in r.name] == []
    groups = {g.name: g for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert sorted(groups) == ["network-flow-logs", "termination-early-retirement"]
    # The cluster key serves only the one log group that remains encrypted with it.
    (logs,) = [s for s in json.loads(graph.one("aws:kms/key:Key").inputs["policy"])["Statement"] if "Condition" in s]
    only = [groups["termination-early-retirement"].state["arn"]]
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == only


# -- the control plane, scraped ------------------------------------------------------------------


def test_kubeadm_binds_the_control_planes_metrics_where_prometheus_reaches_them() -> None:
    params = kubeadm.ClusterParams("podium-dev", "1.35.8", "api.example", "10.244.0.0/16", "10.96.0.0/12")
    cluster = kubeadm.cluster_configuration(params)
    assert cluster["etcd"]["local"]["extraArgs"] == [{"name": "listen-metrics-urls", "value": "http://0.0.0.0:2381"}]
    for component in ("controllerManager", "scheduler"):
        assert {"name": "bind-address", "value": "0.0.0.0"} in cluster[component]["extraArgs"]
    assert kubeadm.kube_proxy_configuration()["metricsBindAddress"] == "0.0.0.0:10249"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_control_planes_admit_exactly_the_metrics_ports_from_the_nodes(stack: str) -> None:
    graph = graph_for(stack)
    nodes = graph.one("aws:ec2/securityGroup:SecurityGroup", "cluster-nodes")
    control_plane = graph.one("aws:ec2/securityGroup:SecurityGroup", "cluster-control-plane")
    rules = [
        r.inputs
        for r in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == control_plane.id and "metrics" in r.inputs["description"]
    ]
    # etcd's metrics, node-exporter, kube-proxy, the controller manager, the scheduler.
    assert sorted((r["fromPort"], r["toPort"]) for r in rules) == [
        (2381, 2381),
        (9100, 9100),
        (10249, 10249),
        (10257, 10257),
        (10259, 10259),
    ]
    assert all(r["referencedSecurityGroupId"] == nodes.id and "cidrIpv4" not in r for r in rules)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_prometheus_on_a_worker_reaches_every_scrape_target_and_the_internet_none(stack: str) -> None:
    results = reachability.cluster_flows(graph_for(stack))
    scrapes = [r for r in results if r.source.startswith("Prometheus on ")]
    control_planes = stack_config(stack)["podium:controlPlane"]["count"]
    groups = len(node_pool_resources(graph_for(stack), "aws:autoscaling/group:Group"))
    # Each group's workers to every control plane (5 ports) and to every group (2 ports).
    assert len(scrapes) == groups * (control_planes * 5 + groups * 2)
    assert all(r.ok and r.verdict == "allowed" for r in scrapes), reachability.format_failures(scrapes)
    closed = [r for r in results if r.source.startswith("internet") and r.ports in {"2381", "10249", "10257"}]
    assert closed and all(r.verdict == "denied" for r in closed)


def test_without_the_metrics_rules_the_scrapes_are_refused() -> None:
    network = reachability.from_graph(graph_for("dev"))
    groups = tuple(
        dataclasses.replace(g, ingress=tuple(r for r in g.ingress if r.from_port not in (2381, 10257)))
        for g in network.security_groups
    )
    scrapes = reachability.evaluate_cluster(dataclasses.replace(network, security_groups=groups))
    refused = {r.ports for r in scrapes if r.source.startswith("Prometheus on ") and r.verdict == "denied"}
    assert refused == {"2381", "10257"}


# -- Prometheus: what it selects, scrapes and alerts on ----------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_selects_podiums_service_monitors_and_rules_as_rendered(stack: str) -> None:
    graph = graph_for(stack)
    (prometheus,) = stack_release(stack, monitoring.RELEASE).of_kind("Prometheus")
    spec = prometheus["spec"]

    def selects(selector: dict[str, Any], namespace_selector: dict[str, Any], obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels", {})
        matched = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
        return matched and namespace_selector == {}  # {}: every namespace

    monitors = custom_objects(graph, "ServiceMonitor")
    monitors += stack_release(stack, "fluent-bit").of_kind("ServiceMonitor")
    assert {o["metadata"]["name"] for o in monitors} >= {"api", "db-metrics", "fluent-bit"}
    for monitor in monitors:
        assert selects(spec["serviceMonitorSelector"], spec["serviceMonitorNamespaceSelector"], monitor), monitor
    (rules,) = custom_objects(graph, "PrometheusRule")
    assert selects(spec["ruleSelector"], spec["ruleNamespaceSelector"], rules)
    # The selector is a real one: an unlabelled object is left out.
    assert not selects(spec["serviceMonitorSelector"], {}, {"metadata": {"labels": {}}})
    assert spec["podMetadata"]["labels"] == monitoring.PROMETHEUS_POD_LABELS


@pytest.mark.parametrize("stack", STACKS)
def test_the_apps_service_monitors_name_ports_its_services_serve(stack: str) -> None:
    graph = graph_for(stack)
    services = {o["metadata"]["name"]: o for o in render.kubernetes_objects(graph) if o["kind"] == "Service"}
    for monitor in custom_objects(graph, "ServiceMonitor"):
        service = services[monitor["metadata"]["name"]]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        (endpoint,) = monitor["spec"]["endpoints"]
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert port["port"] in (m.API_METRICS_PORT, m.DB_METRICS_PORT)
    api = next(
        o for o in render.kubernetes_objects(graph) if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"
    )
    (container,) = containers(api)
    assert f"--port-metrics={m.API_METRICS_PORT}" in container["command"]
    assert {"name": "http-metrics", "containerPort": m.API_METRICS_PORT} in container["ports"]


@pytest.mark.parametrize("stack", STACKS)
def test_podiums_monitoring_objects_match_their_crds(stack: str) -> None:
    graph = graph_for(stack)
    known = crd_schema.schemas(helm_render.stack_crds(graph))
    found = crd_schema.custom_resources(render.kubernetes_objects(graph), known)
    assert sorted(o["kind"] for o in found) == ["PrometheusRule", "ServiceMonitor", "ServiceMonitor"]
    assert [(o["kind"], crd_schema.problems(o, known)) for o in found if crd_schema.problems(o, known)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_and_dashboard_expression_parses_as_promql(stack: str) -> None:
    graph = graph_for(stack)
    (rule,) = custom_objects(graph, "PrometheusRule")
    expressions = monitoring.rule_expressions(rule["spec"]["groups"])
    (board_map,) = [
        o
        for o in render.kubernetes_objects(graph)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "podium-dashboard"
    ]
    board = json.loads(board_map["data"]["podium.json"])
    expressions += monitoring.dashboard_expressions(board)
    assert len(expressions) >= 15
    for expression in expressions:
        promql_parser.parse(expression)  # raises ValueError on anything that is not PromQL
    with pytest.raises(ValueError):
        promql_parser.parse(expressions[0].replace(")", "", 1))


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_the_issue_names_exists_with_a_runbook(stack: str) -> None:
    (rule,) = custom_objects(graph_for(stack), "PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    wanted = {
        "PodiumApiErrorRatioHigh",
        "PodiumApiLatencyHigh",
        "PodiumPodCrashLooping",
        "PodiumHpaAtMaximum",
        "PodiumVolumeAlmostFull",
        "PodiumDatabaseDown",
        "PodiumBackupTooOld",
        "PodiumNodeNotReady",
        "PodiumKubeletCertificateExpiresSoon",
    }
    if stack != "local":  # etcd snapshots and kubeadm's certificates: control planes Podium built
        wanted |= {"PodiumEtcdSnapshotTooOld", "PodiumEtcdSnapshotMissing", "PodiumControlPlaneCertificateExpiresSoon"}
    assert set(alerts) == wanted
    assert all(
        len(a["annotations"]["runbook"]) > 30 and a["labels"]["severity"] in ("warning", "critical")
        for a in alerts.values()
    )
    # The kube-prometheus rules stay on besides Podium's, less the few Podium's replace.
    defaults = {
        r["alert"]
        for o in stack_release(stack, monitoring.RELEASE).of_kind("PrometheusRule")
        for g in o["spec"]["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert {"KubePodNotReady", "KubeDeploymentReplicasMismatch", "Watchdog"} <= defaults
    assert defaults.isdisjoint(monitoring.REPLACED_DEFAULT_ALERTS)
    assert any(
        o["metadata"]["name"].endswith("-etcd") or "kubernetes-apps" in o["metadata"]["name"]
        for o in stack_release(stack, monitoring.RELEASE).of_kind("PrometheusRule")
    )


@pytest.mark.parametrize(
    ("stack", "threshold", "error_ratio", "latency"), [("dev", 129600, "0.05", "1"), ("prod", 5400, "0.01", "0.5")]
)
def test_alert_thresholds_follow_the_stacks_schedules_and_targets(
    stack: str, threshold: int, error_ratio: str, latency: str
) -> None:
    (rule,) = custom_objects(graph_for(stack), "PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    # 1.5 times the backup schedule's longest gap: dev daily (17 3 * * *), prod hourly (17 * * * *).
    assert f"> {threshold})" in alerts["PodiumBackupTooOld"]["expr"]
    assert alerts["PodiumApiErrorRatioHigh"]["expr"].endswith(f"> {error_ratio}")
    assert alerts["PodiumApiLatencyHigh"]["expr"].endswith(f"> {latency}")
    interval = stack_config(stack)["podium:controlPlane"].get("etcdSnapshotIntervalMinutes", 60)
    # Fires at twice the interval: the age is in the expression, the wait is short.
    assert alerts["PodiumEtcdSnapshotTooOld"]["expr"].endswith(f"> {interval * 120}")
    assert alerts["PodiumEtcdSnapshotTooOld"]["for"] == "10m"
    assert alerts["PodiumEtcdSnapshotMissing"]["for"] == "2h" and interval == 60
    # The metrics the control planes' timer writes are the ones the alerts read.
    assert monitoring.ETCD_SNAPSHOT_METRIC in alerts["PodiumEtcdSnapshotTooOld"]["expr"]
    assert monitoring.CERTIFICATE_METRIC in alerts["PodiumControlPlaneCertificateExpiresSoon"]["expr"]


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [
        ("17 3 * * *", 86400),
        ("17 * * * *", 3600),
        ("*/15 * * * *", 900),
        ("0 2 * * 1-5", 3 * 86400),  # Friday to Monday
        ("0 0 1 * *", 31 * 86400),
        ("0 0 1,15 * *", 17 * 86400),
        ("0 0 1 * 0", 7 * 86400),  # either the 1st or a Sunday: the week is the longest gap
        # `*/2` starts with `*`: for cron both day fields must match, odd days that are
        # Mondays, which can be three weeks apart.
        ("0 0 */2 * 1", 21 * 86400),
        ("0 0 * * 1", 7 * 86400),
        ("@hourly", 3600),
    ],
)
def test_the_longest_gap_of_a_cron_schedule(schedule: str, gap: int) -> None:
    assert monitoring.cron_longest_gap_seconds(schedule) == gap


# -- node-exporter, Alertmanager, Grafana ------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_node_exporter_alone_runs_privileged_and_reads_the_textfile_directory(stack: str) -> None:
    graph = graph_for(stack)
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for o in render.kubernetes_objects(graph)
        if o["kind"] == "Namespace"
        and o["metadata"]["name"] in (monitoring.NAMESPACE, monitoring.NODE_EXPORTER_NAMESPACE, logs.NAMESPACE)
    }
    assert namespaces == {"monitoring": "baseline", "monitoring-node": "privileged", "logging": "privileged"}
    rendered = stack_release(stack, monitoring.RELEASE)
    (daemon_set,) = rendered.of_kind("DaemonSet")
    assert daemon_set["metadata"]["namespace"] == monitoring.NODE_EXPORTER_NAMESPACE
    pods = [
        o for o in rendered.objects if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"].get("namespace")
    ]
    assert {o["metadata"]["namespace"] for o in pods} == {monitoring.NAMESPACE}
    (exporter,) = containers(daemon_set)
    # The directory exists on every node (the kubelet creates it), timer or not: a missing
    # one is a scrape error kube-prometheus alerts on.
    (mount,) = [v for v in exporter["volumeMounts"] if v["mountPath"] == monitoring.TEXTFILE_MOUNT]
    (volume,) = [v for v in daemon_set["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["hostPath"] == {"path": monitoring.TEXTFILE_DIRECTORY, "type": "DirectoryOrCreate"}
    assert mount["readOnly"] is True
    assert f"--collector.textfile.directory={monitoring.TEXTFILE_MOUNT}" in exporter["args"]
    assert daemon_set["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert exporter["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"operator": "Exists", "effect": "NoSchedule"} in daemon_set["spec"]["template"]["spec"]["tolerations"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_of_the_stack_and_the_log_shipper_has_requests_and_limits(stack: str) -> None:
    checked = 0
    for name in (monitoring.RELEASE, "fluent-bit"):
        for owner in stack_release(stack, name).objects:
            if owner["kind"] not in ("Deployment", "DaemonSet", "Job"):
                continue
            for container in containers(owner):
                resources = container.get("resources") or {}
                assert {"cpu", "memory"} <= set(resources.get("requests", {})), (
                    owner["metadata"]["name"],
                    container["name"],
                )
                assert {"cpu", "memory"} <= set(resources.get("limits", {})), (
                    owner["metadata"]["name"],
                    container["name"],
                )
                checked += 1
    # Prometheus and Alertmanager are the operator's: their requests are in the CRs.
    for kind in ("Prometheus", "Alertmanager"):
        (custom,) = stack_release(stack, monitoring.RELEASE).of_kind(kind)
        assert {"requests", "limits"} <= set(custom["spec"]["resources"])
    assert checked >= 8


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_without_a_receiver_alertmanager_pages_nobody_and_the_plan_says_so(
    stack: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = _rendered_alertmanager_config(stack)
    assert config["route"]["receiver"] == "null" and config["receivers"] == [{"name": "null"}]
    assert plan.main([stack]) == 0
    printed = capsys.readouterr().out + caplog.text
    assert "podium:alertWebhookUrl is not set: alerts show in Alertmanager and Grafana, and nobody is paged" in printed


def _rendered_alertmanager_config(stack: str, graph: harness.Graph | None = None) -> dict[str, Any]:
    if graph is None:
        rendered = stack_release(stack, monitoring.RELEASE)
    else:
        rendered = next(r for r in helm_render.render_stack(graph) if r.release == monitoring.RELEASE)
    (secret,) = [o for o in rendered.of_kind("Secret") if o["metadata"]["name"].startswith("alertmanager-")]
    text = (
        secret.get("stringData", {}).get("alertmanager.yaml")
        or base64.b64decode(secret["data"]["alertmanager.yaml"]).decode()
    )
    return yaml.safe_load(text)


def test_with_a_receiver_every_alert_but_the_watchdog_goes_to_the_webhook_read_from_a_secret() -> None:
    url = "https://hooks.example.com/podium/T0KEN"
    graph = harness.run("dev", stack_config("dev"), secrets={"podium:alertWebhookUrl": url})
    secret = graph.one("kubernetes:core/v1:Secret", f"observability-{monitoring.ALERT_WEBHOOK_SECRET}")
    assert secret.inputs["metadata"]["namespace"] == monitoring.NAMESPACE
    assert secret.inputs["stringData"] == {monitoring.ALERT_WEBHOOK_KEY: url} and "stringData" in secret.secret_inputs
    # The URL is in that Secret only: not in the release's values, not in any output.
    release = graph.one("kubernetes:helm.sh/v3:Release", f"observability-{monitoring.RELEASE}")
    assert url not in json.dumps(release.inputs) and url not in json.dumps(graph.public_exports)
    am = _rendered_alertmanager_config("dev", graph)
    receivers = {r["name"]: r for r in am["receivers"]}
    assert am["route"]["receiver"] == "webhook"
    (webhook,) = receivers["webhook"]["webhook_configs"]
    assert (
        webhook["url_file"]
        == f"/etc/alertmanager/secrets/{monitoring.ALERT_WEBHOOK_SECRET}/{monitoring.ALERT_WEBHOOK_KEY}"
    )
    # Every route names a receiver that exists; the Watchdog goes nowhere.
    routes = [am["route"], *am["route"].get("routes", [])]
    assert all(r["receiver"] in receivers for r in routes)
    assert {"matchers": ['alertname = "Watchdog"'], "receiver": "null"} in am["route"]["routes"]
    (alertmanager,) = next(r for r in helm_render.render_stack(graph) if r.release == monitoring.RELEASE).of_kind(
        "Alertmanager"
    )
    assert alertmanager["spec"]["secrets"] == [monitoring.ALERT_WEBHOOK_SECRET]


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_grafana_logs_in_with_the_generated_password_and_loads_podiums_dashboard(stack: str) -> None:
    graph = graph_for(stack)
    secret = graph.one("kubernetes:core/v1:Secret", f"observability-{monitoring.GRAFANA_ADMIN_SECRET}")
    assert "stringData" in secret.secret_inputs and set(secret.inputs["stringData"]) == {"admin-user", "admin-password"}
    rendered = stack_release(stack, monitoring.RELEASE)
    (grafana,) = [o for o in rendered.of_kind("Deployment") if o["metadata"]["name"].endswith("-grafana")]
    by_name = {c["name"]: c for c in containers(grafana)}
    env = {e["name"]: e for e in by_name["grafana"]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": monitoring.GRAFANA_ADMIN_SECRET,
        "key": "admin-password",
    }
    sidecar = {e["name"]: e.get("value") for e in by_name["grafana-sc-dashboard"]["env"]}
    (board,) = [
        o
        for o in render.kubernetes_objects(graph)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "podium-dashboard"
    ]
    assert board["metadata"]["labels"] == {sidecar["LABEL"]: sidecar["LABEL_VALUE"]}
    assert sidecar["NAMESPACE"] == board["metadata"]["namespace"] == monitoring.NAMESPACE
    assert sidecar["RESOURCE"] == "configmap"
    # Grafana's rights end at its namespace: a Role, no ClusterRole.
    assert not [o for o in rendered.of_kind("ClusterRole") if "grafana" in o["metadata"]["name"]]
    assert not [o for o in rendered.of_kind("Service") if o["spec"].get("type") in ("LoadBalancer", "NodePort")]


# -- logs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_fluent_bit_ships_container_and_audit_logs_to_the_clusters_group_with_its_own_role(stack: str) -> None:
    graph = graph_for(stack)
    group = graph.one("aws:cloudwatch/logGroup:LogGroup", "observability-logs")
    cluster = graph.exports["clusterName"]
    assert group.inputs["name"] == logs.log_group_name(cluster) == f"/podium/{cluster}/kubernetes"
    assert group.inputs["retentionInDays"] == stack_config(stack)["podium:observability"]["logRetentionDays"]
    role = graph.one("aws:iam/role:Role", "observability-fluent-bit")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert next(iter(statement["Condition"]["StringEquals"].values())) == "system:serviceaccount:logging:fluent-bit"
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "observability-fluent-bit").inputs["policy"])
    (ship,) = policy["Statement"]
    assert ship["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert ship["Resource"] == f"{group.state['arn']}:log-stream:*"
    (daemon_set,) = stack_release(stack, "fluent-bit").of_kind("DaemonSet")
    (container,) = containers(daemon_set)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AWS_ROLE_ARN"] == role.state["arn"]
    token_path = env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert any(token_path.startswith(v["mountPath"]) for v in container["volumeMounts"])
    assert daemon_set["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]
    sections = fluent_bit_sections(stack)
    tails = [s for name, s in sections if name == "INPUT" and s["Name"] == "tail"]
    assert sorted(s["Path"] for s in tails) == ["/var/log/containers/*.log", kubeadm.AUDIT_LOG_PATH]
    outputs = [s for name, s in sections if name == "OUTPUT"]
    assert sorted((o["Name"], o["Match"], o["log_stream_prefix"]) for o in outputs) == [
        ("cloudwatch_logs", "audit.*", "audit."),
        ("cloudwatch_logs", "kube.*", "containers."),
    ]
    assert {(o["log_group_name"], o["region"], o["auto_create_group"]) for o in outputs} == {
        (group.inputs["name"], "us-east-1", "false")
    }
    # What the tail inputs tag is what the outputs match, and the filter enriches.
    assert {t["Tag"] for t in tails} == {"kube.*", "audit.*"}
    assert [s["Match"] for name, s in sections if name == "FILTER"] == ["kube.*"]


def fluent_bit_sections(stack: str) -> list[tuple[str, dict[str, str]]]:
    return _sections(stack_release(stack, "fluent-bit"))


def _sections(release: helm_render.Rendered) -> list[tuple[str, dict[str, str]]]:
    """Fluent Bit's classic configuration as rendered: (section, key -> value)."""
    (config_map,) = release.of_kind("ConfigMap")
    sections: list[tuple[str, dict[str, str]]] = []
    for line in config_map["data"]["fluent-bit.conf"].splitlines():
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], {}))
        elif line.strip() and sections:
            key, _, value = line.strip().partition(" ")
            sections[-1][1][key] = value.strip()
    return sections


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_fluent_bit_does_not_read_its_own_log(stack: str) -> None:
    import fnmatch

    (tail,) = [
        s for name, s in fluent_bit_sections(stack) if name == "INPUT" and s["Path"].startswith("/var/log/containers")
    ]
    (daemon_set,) = stack_release(stack, "fluent-bit").of_kind("DaemonSet")
    own = f"/var/log/containers/{daemon_set['metadata']['name']}-x7k2p_{daemon_set['metadata']['namespace']}_fluent-bit-0123abcd.log"
    assert fnmatch.fnmatch(own, tail["Exclude_Path"])
    assert not fnmatch.fnmatch("/var/log/containers/api-5d8f_podium_api-0123abcd.log", tail["Exclude_Path"])
    security = containers(daemon_set)[0]["securityContext"]
    assert security["runAsUser"] == 0 and security["capabilities"] == {"drop": ["ALL"]}


def test_an_existing_cluster_without_an_observability_section_logs_to_stdout() -> None:
    config = stack_config("local")
    del config["podium:observability"]
    assert problems_of(config) == []
    graph = harness.run("local", config)
    outputs = [
        s
        for name, s in _sections(next(r for r in helm_render.render_stack(graph) if r.release == "fluent-bit"))
        if name == "OUTPUT"
    ]
    assert [o["Name"] for o in outputs] == ["stdout"]


def test_local_prints_the_logs_to_stdout_and_touches_no_aws() -> None:
    sections = fluent_bit_sections("local")
    outputs = [s for name, s in sections if name == "OUTPUT"]
    assert [(o["Name"], o["Match"]) for o in outputs] == [("stdout", "*")]
    assert [s["Path"] for name, s in sections if name == "INPUT" and s["Name"] == "tail"] == [
        "/var/log/containers/*.log"
    ]
    (daemon_set,) = stack_release("local", "fluent-bit").of_kind("DaemonSet")
    assert "AWS_ROLE_ARN" not in json.dumps(daemon_set)


def test_the_log_shipping_policy_is_parliament_clean_and_names_only_the_groups_streams() -> None:
    from tests.test_iam_policies import lint, unexpected

    document = iam_policies.log_shipping_policy(
        partition="aws", region="us-east-1", account_id="123456789012", log_group="/podium/podium-dev/kubernetes"
    )
    assert unexpected(lint(document), iam_policies.PARLIAMENT_ACCEPTED_FINDINGS) == []
    (statement,) = document["Statement"]
    assert (
        statement["Resource"]
        == "arn:aws:logs:us-east-1:123456789012:log-group:/podium/podium-dev/kubernetes:log-stream:*"
    )
    with pytest.raises(ValueError, match="log_group must be a non-empty literal"):
        iam_policies.log_shipping_policy(
            partition="aws", region="us-east-1", account_id="123456789012", log_group="/podium/*"
        )


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_a_new_exporter_password_reruns_the_user_job_and_restarts_the_exporter(stack: str) -> None:
    import hashlib

    graph = graph_for(stack)
    password = graph.one("random:index/randomPassword:RandomPassword", "app-db-metrics-password").state["result"]
    revision = hashlib.sha256(password.encode()).hexdigest()[:16]
    owners = {o["metadata"]["name"]: o for o in render.kubernetes_objects(graph) if o["kind"] in ("Job", "Deployment")}
    for name in (m.DB_USERS, m.DB_METRICS):
        annotations = owners[name]["spec"]["template"]["metadata"]["annotations"]
        # The digest, shown as it is (not redacted), and never the password itself.
        assert annotations == {m.PASSWORD_REVISION: revision}, name
        assert password not in json.dumps(owners[name])
    (job,) = [r for r in graph.of_type("kubernetes:batch/v1:Job")]
    assert job.delete_before_replace  # a fixed name: the replacement runs after the old Job is gone
