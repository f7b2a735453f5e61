"""Metrics, alerts and dashboards, as pure functions: the values of kube-prometheus-stack
(from the vendored chart, its CRDs installed apart), Podium's alert rules and its
Grafana dashboard. components/platform/observability.py deploys them.

Decisions:
* Prometheus selects ServiceMonitors and rules by the chart's own default, the label
  `release: kube-prometheus-stack`, in every namespace: Podium's objects carry it
  (SELECTED), and an object that does not is not scraped by accident.
* node-exporter needs the host's network, PID namespace and root file system: it alone
  runs in a namespace whose Pod Security level is `privileged`; the rest of the stack
  runs under `baseline` (warned and audited against `restricted`).
* Requests and limits for every container, sized for dev's nodes (t3.large workers).
"""

from __future__ import annotations

import calendar
import datetime
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What the control planes' snapshot timer publishes through node-exporter's textfile
# collector (components/cluster/scripts/etcd-snapshot.sh), and where.
from components.cluster.userdata import CERTIFICATE_METRIC, ETCD_SNAPSHOT_METRIC, TEXTFILE_DIRECTORY

NAMESPACE = "monitoring"
NODE_EXPORTER_NAMESPACE = "monitoring-node"
RELEASE = "kube-prometheus-stack"
SELECTED = {"release": RELEASE}  # what the Prometheus of this release selects
PROMETHEUS_POD_LABELS = {"podium.io/scraper": "prometheus"}  # what NetworkPolicies admit
PROMETHEUS_SHUTDOWN_SECONDS = 120  # its pods' grace period
GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERT_WEBHOOK_SECRET = "alertmanager-webhook"
ALERT_WEBHOOK_KEY = "url"
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
TEXTFILE_MOUNT = "/host/textfile"  # TEXTFILE_DIRECTORY, inside node-exporter  # what Grafana's dashboard sidecar loads
API_METRICS_PORT = 9797  # podinfo --port-metrics
DB_EXPORTER_PORT = 9216
CERTIFICATE_WARNING_DAYS = 30
# kube-prometheus alerts that Podium's own (alert_groups) replace.
REPLACED_DEFAULT_ALERTS = (
    "KubePodCrashLooping",
    "KubeHpaMaxedOut",
    "KubeNodeNotReady",
    "KubeletClientCertificateExpiration",
    "KubeletServerCertificateExpiration",
)
# The chart's own node-exporter arguments, kept: setting extraArgs replaces the list.
_NODE_EXPORTER_ARGS = (
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/containerd/.+|var/lib/docker/.+|var/lib/kubelet/.+)($|/)",
    "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs|erofs)$",
)


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


# Sized for dev (two t3.large workers), measured against the components' documented
# footprints of a small cluster; Prometheus grows with series, set per stack by storage.
SIZES = {
    "prometheus": resources("200m", "768Mi", "1", "2Gi"),
    "alertmanager": resources("10m", "64Mi", "100m", "128Mi"),
    "operator": resources("50m", "96Mi", "200m", "256Mi"),
    "reloader": resources("10m", "32Mi", "100m", "64Mi"),
    "webhook-jobs": resources("10m", "32Mi", "100m", "64Mi"),
    "grafana": resources("100m", "192Mi", "500m", "512Mi"),
    "grafana-sidecar": resources("10m", "64Mi", "100m", "128Mi"),
    "kube-state-metrics": resources("20m", "96Mi", "200m", "256Mi"),
    "node-exporter": resources("20m", "32Mi", "200m", "64Mi"),
}


@dataclass(frozen=True)
class MetricsParams:
    on_aws: bool  # kubeadm: scrape etcd, the controller manager, the scheduler, kube-proxy
    retention_days: int
    storage_gb: int
    storage_class: str | None  # None: the cluster's default class
    alert_receiver: bool  # a webhook Secret (ALERT_WEBHOOK_SECRET) exists


def stack_values(p: MetricsParams) -> dict[str, Any]:
    """kube-prometheus-stack's values."""
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{p.storage_gb}Gi"}},
    }
    if p.storage_class:
        claim["storageClassName"] = p.storage_class
    alertmanager_spec: dict[str, Any] = {"resources": SIZES["alertmanager"]}
    if p.alert_receiver:
        alertmanager_spec["secrets"] = [ALERT_WEBHOOK_SECRET]
    return {
        # The CRDs come from prometheus-operator-crds, applied server-side beforehand.
        "crds": {"enabled": False},
        # The default rules stay, but for the few Podium's own alerts replace (same
        # condition, with a runbook): one incident, one page.
        "defaultRules": {"disabled": {name: True for name in REPLACED_DEFAULT_ALERTS}},
        "prometheus": {
            "prometheusSpec": {
                "retention": f"{p.retention_days}d",
                # Before the volume fills up, the oldest blocks go: at 70%, below the
                # 80% at which PodiumVolumeAlmostFull would fire on Prometheus's own claim.
                "retentionSize": f"{p.storage_gb * 7 // 10}GB",
                "storageSpec": {"volumeClaimTemplate": {"spec": claim}},
                "resources": SIZES["prometheus"],
                "podMetadata": {"labels": PROMETHEUS_POD_LABELS},
                # The operator's default is 600 s, as long as a node's whole drain may take
                # (termination.DRAIN_TIMEOUT_SECONDS): two minutes to flush its head is ample.
                "terminationGracePeriodSeconds": PROMETHEUS_SHUTDOWN_SECONDS,
            }
        },
        "alertmanager": {"config": alertmanager_config(p.alert_receiver), "alertmanagerSpec": alertmanager_spec},
        "prometheusOperator": {
            "resources": SIZES["operator"],
            "prometheusConfigReloader": {"resources": SIZES["reloader"]},
            "admissionWebhooks": {"patch": {"resources": SIZES["webhook-jobs"]}},
        },
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "resources": SIZES["grafana"],
            # Dashboards and data sources from ConfigMaps in its own namespace only: the
            # chart's default, every namespace's Secrets, would let Grafana read them all.
            "rbac": {"namespaced": True},
            "sidecar": {
                "resources": SIZES["grafana-sidecar"],
                "dashboards": {"searchNamespace": NAMESPACE, "resource": "configmap"},
                "datasources": {"resource": "configmap"},
            },
        },
        "kube-state-metrics": {"resources": SIZES["kube-state-metrics"]},
        "prometheus-node-exporter": {
            "namespaceOverride": NODE_EXPORTER_NAMESPACE,
            "resources": SIZES["node-exporter"],
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            # Its own mount, created on every node (DirectoryOrCreate): node-exporter reports a
            # missing directory as a scrape error, which kube-prometheus alerts on.
            "extraArgs": [*_NODE_EXPORTER_ARGS, f"--collector.textfile.directory={TEXTFILE_MOUNT}"],
            "extraHostVolumeMounts": [
                {
                    "name": "textfile",
                    "hostPath": TEXTFILE_DIRECTORY,
                    "type": "DirectoryOrCreate",
                    "mountPath": TEXTFILE_MOUNT,
                    "readOnly": True,
                }
            ],
        },
        # kind binds these to 127.0.0.1 and Podium does not reconfigure it: no target to scrape.
        "kubeEtcd": {"enabled": p.on_aws},
        "kubeControllerManager": {"enabled": p.on_aws},
        "kubeScheduler": {"enabled": p.on_aws},
        "kubeProxy": {"enabled": p.on_aws},
    }


def alertmanager_config(receiver: bool) -> dict[str, Any]:
    """Without a receiver, alerts stay in Alertmanager (its UI, Grafana) and nobody is
    paged; with one, everything but the Watchdog goes to the webhook, whose URL is read
    from the mounted Secret so that it never appears in the Helm values."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    route: dict[str, Any] = {
        "receiver": "null",
        "group_by": ["namespace", "alertname"],
        "routes": [{"matchers": ['alertname = "Watchdog"'], "receiver": "null"}],
    }
    if receiver:
        url_file = f"/etc/alertmanager/secrets/{ALERT_WEBHOOK_SECRET}/{ALERT_WEBHOOK_KEY}"
        receivers.append({"name": "webhook", "webhook_configs": [{"url_file": url_file, "send_resolved": True}]})
        route["receiver"] = "webhook"
    return {"route": route, "receivers": receivers}


# -- when the backup should have run ----------------------------------------------------------------

_MACRO_SECONDS = {
    "@yearly": 366 * 86400,
    "@annually": 366 * 86400,
    "@monthly": 31 * 86400,
    "@weekly": 7 * 86400,
    "@daily": 86400,
    "@midnight": 86400,
    "@hourly": 3600,
}


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-"))
        else:
            start = int(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def cron_longest_gap_seconds(schedule: str) -> int:
    """The longest time between two runs of a CronJob schedule (5 fields or a macro,
    as settings validate them), over two years of the calendar: what "it should have
    run by now" means for an alert."""
    if schedule.startswith("@"):
        return _MACRO_SECONDS[schedule]
    minute, hour, dom, month, dow = schedule.split()
    minutes = sorted(_cron_field(minute, 0, 59))
    hours = sorted(_cron_field(hour, 0, 23))
    days = _cron_field(dom, 1, 31)
    months = _cron_field(month, 1, 12)
    weekdays = {d % 7 for d in _cron_field(dow, 0, 7)}
    start = datetime.date(2028, 1, 1)  # a leap year, then a common one
    runs: list[int] = []
    for offset in range(731):
        day = start + datetime.timedelta(days=offset)
        if day.month not in months:
            continue
        # cron: with both day fields restricted, either one matching runs the job.
        by_dom, by_dow = day.day in days, (day.isoweekday() % 7) in weekdays
        # As Kubernetes' cron library: a day field starting with `*` (`*/2` too) is unrestricted.
        both_restricted = not dom.startswith("*") and not dow.startswith("*")
        runs_today = (by_dom or by_dow) if both_restricted else (by_dom and by_dow)
        if not runs_today:
            continue
        midnight = calendar.timegm(day.timetuple())
        runs.extend(midnight + h * 3600 + mi * 60 for h, mi in itertools.product(hours, minutes))
    if len(runs) < 2:
        raise ValueError(f"{schedule!r} runs fewer than twice in two years")
    return max(b - a for a, b in itertools.pairwise(runs))


# -- alerts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertParams:
    app_namespace: str
    api_job: str  # the API Service's name: Prometheus's job label for its metrics
    db_exporter_job: str
    backup_cronjob: str
    backup_schedule: str
    api_error_percent: int
    api_p99_latency_ms: int
    etcd_snapshot_interval_minutes: int | None  # None: no snapshots (existing clusters)


def _duration(seconds: int) -> str:
    """A Prometheus duration, in the largest whole unit."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, runbook: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook": runbook},
    }


def alert_groups(p: AlertParams) -> list[dict[str, Any]]:
    """Podium's PrometheusRule groups; kube-prometheus-stack's own rules stay on too."""
    api = f'namespace="{p.app_namespace}",job="{p.api_job}"'
    ratio = p.api_error_percent / 100
    latency = p.api_p99_latency_ms / 1000
    backup = f'namespace="{p.app_namespace}",cronjob="{p.backup_cronjob}"'
    backup_deadline = cron_longest_gap_seconds(p.backup_schedule) * 3 // 2
    month = CERTIFICATE_WARNING_DAYS * 86400
    app = [
        _alert(
            "PodiumApiErrorRatioHigh",
            f'sum(rate(http_requests_total{{{api},status=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate(http_requests_total{{{api}}}[5m])), 1e-9) > {ratio:g}",
            "10m",
            "critical",
            f"More than {p.api_error_percent}% of the API's requests fail",
            f"kubectl -n {p.app_namespace} logs deploy/{p.api_job}; check the database (PodiumDatabaseDown)"
            " and the last rollout",
        ),
        _alert(
            "PodiumApiLatencyHigh",
            f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{api}}}[5m])))"
            f" > {latency:g}",
            "10m",
            "warning",
            f"The API's 99th-percentile latency is above {p.api_p99_latency_ms} ms",
            "Compare with the replica count (PodiumHpaAtMaximum) and the database's load; scale app.api or its pool",
        ),
        _alert(
            "PodiumDatabaseDown",
            f'max(mongodb_up{{namespace="{p.app_namespace}",job="{p.db_exporter_job}"}}) < 1'
            f' or absent(mongodb_up{{namespace="{p.app_namespace}",job="{p.db_exporter_job}"}})',
            "5m",
            "critical",
            "The database does not answer its exporter",
            f"kubectl -n {p.app_namespace} describe pod -l app.kubernetes.io/component=db; check its volume and node",
        ),
        _alert(
            "PodiumBackupTooOld",
            f"(time() - max(kube_cronjob_status_last_successful_time{{{backup}}}) > {backup_deadline})"
            f" or (absent(kube_cronjob_status_last_successful_time{{{backup}}})"
            f" and on() (time() - max(kube_cronjob_created{{{backup}}}) > {backup_deadline}))",
            "10m",
            "critical",
            f"No successful database backup for 1.5 times the schedule's longest gap ({_duration(backup_deadline)})",
            f"kubectl -n {p.app_namespace} get jobs -l app.kubernetes.io/component=backup; read the failed job's logs",
        ),
    ]
    cluster = [
        _alert(
            "PodiumPodCrashLooping",
            'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
            "15m",
            "warning",
            "A container keeps crashing",
            "kubectl -n <namespace> logs <pod> --previous; kubectl describe pod for the exit reason",
        ),
        _alert(
            "PodiumHpaAtMaximum",
            "kube_horizontalpodautoscaler_status_current_replicas"
            " >= on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas",
            "15m",
            "warning",
            "An autoscaler has been at its maximum replicas for 15 minutes",
            "Raise the workload's maxReplicas (app.*.maxReplicas) or find why each replica is slow",
        ),
        _alert(
            "PodiumVolumeAlmostFull",
            "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes > 0.8",
            "5m",
            "warning",
            "A persistent volume is more than 80% full",
            "Grow the claim (the StorageClasses allow expansion) or clean up; app.db.storageGb for the database",
        ),
        _alert(
            "PodiumNodeNotReady",
            'kube_node_status_condition{condition="Ready",status="true"} == 0',
            "5m",
            "critical",
            "A node is not Ready",
            "kubectl describe node <node>; its group replaces an instance that fails its EC2 health checks",
        ),
        _alert(
            "PodiumKubeletCertificateExpiresSoon",
            f"min by (node) (kubelet_certificate_manager_client_ttl_seconds) < {month}"
            f" or min by (node) (kubelet_certificate_manager_server_ttl_seconds) < {month}",
            "1h",
            "warning",
            f"A kubelet client or serving certificate expires within {CERTIFICATE_WARNING_DAYS} days",
            "Kubelets rotate their certificates: check the CSR approver's logs and pending CSRs (kubectl get csr)",
        ),
    ]
    if p.etcd_snapshot_interval_minutes is not None:
        deadline = p.etcd_snapshot_interval_minutes * 60 * 2
        cluster += [
            _alert(
                "PodiumEtcdSnapshotTooOld",
                f"time() - max by (instance) ({ETCD_SNAPSHOT_METRIC}) > {deadline}",
                "10m",
                "critical",
                f"A control plane has not uploaded an etcd snapshot for twice the interval ({_duration(deadline)})",
                "journalctl -u podium-etcd-snapshot on the control plane (Session Manager); check the bucket policy",
            ),
            _alert(
                "PodiumEtcdSnapshotMissing",
                f"absent({ETCD_SNAPSHOT_METRIC})",
                _duration(deadline),
                "critical",
                f"No control plane has reported an etcd snapshot for {_duration(deadline)}",
                "Check the podium-etcd-snapshot timer on each control plane; control planes older than the snapshot"
                " metric publish none (docs/operations.md, clusters created before observability)",
            ),
            _alert(
                "PodiumControlPlaneCertificateExpiresSoon",
                f"{CERTIFICATE_METRIC} - time() < {month}",
                "1h",
                "critical",
                f"A kubeadm certificate of a control plane expires within {CERTIFICATE_WARNING_DAYS} days",
                "kubeadm certs check-expiration, then kubeadm certs renew all on each control plane (docs/operations.md)",
            ),
        ]
    return [{"name": "podium.app", "rules": app}, {"name": "podium.cluster", "rules": cluster}]


def prometheus_rule(name: str, groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(SELECTED)},
        "spec": {"groups": list(groups)},
    }


# -- the dashboard ---------------------------------------------------------------------------------


def _panel(index: int, title: str, expr: str, unit: str, legend: str = "") -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def dashboard(p: AlertParams) -> dict[str, Any]:
    """Podium's own dashboard: the app's traffic, errors and latency, its scaling and
    database, and the platform's backups, snapshots and nodes."""
    api = f'namespace="{p.app_namespace}",job="{p.api_job}"'
    panels = [
        ("API requests per second", f"sum by (status) (rate(http_requests_total{{{api}}}[5m]))", "reqps", "{{status}}"),
        (
            "API error ratio (5xx)",
            f'sum(rate(http_requests_total{{{api},status=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate(http_requests_total{{{api}}}[5m])), 1e-9)",
            "percentunit",
            "",
        ),
        (
            "API latency, 99th percentile",
            f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{api}}}[5m])))",
            "s",
            "",
        ),
        (
            "Replicas against the autoscalers' maximum",
            f'kube_horizontalpodautoscaler_status_current_replicas{{namespace="{p.app_namespace}"}}',
            "short",
            "{{horizontalpodautoscaler}}",
        ),
        ("Database up", f'mongodb_up{{namespace="{p.app_namespace}"}}', "short", "{{pod}}"),
        (
            "Hours since the last database backup",
            f'(time() - kube_cronjob_status_last_successful_time{{namespace="{p.app_namespace}",cronjob="{p.backup_cronjob}"}}) / 3600',
            "h",
            "",
        ),
        ("Hours since each etcd snapshot", f"(time() - {ETCD_SNAPSHOT_METRIC}) / 3600", "h", "{{instance}}"),
        (
            "Nodes not Ready",
            'sum(kube_node_status_condition{condition="Ready",status="true"} == 0) or vector(0)',
            "short",
            "",
        ),
        (
            "Persistent volumes, fraction used",
            "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes",
            "percentunit",
            "{{namespace}}/{{persistentvolumeclaim}}",
        ),
    ]
    return {
        "uid": "podium-overview",
        "title": "Podium: app and platform",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "tags": ["podium"],
        "panels": [_panel(i, *panel) for i, panel in enumerate(panels)],
    }


def dashboard_expressions(board: Mapping[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def rule_expressions(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    return [rule["expr"] for group in groups for rule in group["rules"]]
