"""Typed, validated stack settings: the config contract of DESIGN.md §3.

`load()` reads the `podium` namespace (and `aws:region`) once; `from_config()` is the pure
core, tested directly. Every problem is collected and raised together in one
`SettingsError`, each line naming its key path. Defaults live here and nowhere else;
Pulumi.yaml and docs/configuration.md are generated from these classes.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from components.config import versions
from components.config.schema import Problems, camel, doc_field, is_missing, parse_object

NAMESPACE = "podium"
# The namespaces the platform itself uses (tests/test_tenants.py checks the program's
# and its charts' against this list): no tenant may take one.
PLATFORM_NAMESPACES = frozenset(
    {
        "default",
        "podium",
        "traefik",
        "tigera-operator",
        "calico-system",
        "calico-apiserver",
        "monitoring",
        "monitoring-node",
        "logging",
        "cert-manager",
        "external-dns",
        "pod-identity",
    }
)
MAX_TENANT_NAME = 40
# The label Podium's pools give their nodes by convention, which tenants' pods select.
POOL_LABEL = "podium/pool"
MAX_AZS = 6
CONTROL_PLANE_COUNTS = (1, 3, 5)
CLUSTER_MODES = ("kubeadm", "existing")
NAT_MODES = ("none", "single", "perAz", "instance")
API_ENDPOINTS = ("public", "internal", "natInstance")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# The cluster autoscaler learns a pool's labels and taints (to scale it up from zero)
# from its ASGs' tags `<this>/label/<key>` and `<this>/taint/<key>`; AWS allows tag keys
# of 128 characters, which leaves this much for a label's or a taint's key.
AUTOSCALER_NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
NODE_TEMPLATE_KEY_ROOM = 128 - len(f"{AUTOSCALER_NODE_TEMPLATE}/label/")
LOG_DESTINATIONS = ("cloudwatch", "stdout", "off")
TLS_MODES = ("acme", "selfSigned", "none")
ACME_SERVERS = ("staging", "production")
DNS_PROVIDERS = ("route53", "none")
# Names no public CA issues for: RFC 2606 / 6761 documentation and local names.
_UNISSUABLE_SUFFIXES = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost", "local")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
# Tags Podium sets itself through the provider's default tags.
RESERVED_TAG_KEYS = ("environment", "managed-by")
# AWS allows 50 tags on an auto-scaling group. A node group carries the user's tags, the
# reserved ones, one per label and taint of its pool (the autoscaler's node template),
# and these of Podium's: Name, podium/pool, the cluster's tag, the autoscaler's two
# discovery tags and its scale-down delay.
GROUP_TAG_LIMIT = 50
PODIUM_GROUP_TAGS = 6
# The NodeRestriction admission plugin lets a kubelet set only these label namespaces
# under kubernetes.io / k8s.io; any other (node-role.kubernetes.io/...) stops the kubelet.
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# An AWS Budgets notification has at most 10 email subscribers (Budgets API reference,
# NotificationWithSubscribers).
MAX_BUDGET_EMAILS = 10
# The longest cluster name that still fits AWS name limits of derived resources
# (load balancer and target group names are at most 32 characters, with suffixes).
MAX_CLUSTER_NAME = 24


def _empty_map() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    mode: str = doc_field(
        "`kubeadm` builds the cluster on AWS; `existing` deploys to a given kubeconfig context.", "kubeadm"
    )
    api_allowed_cidrs: tuple[str, ...] = doc_field(
        "CIDRs that may reach the API endpoint (besides the VPC). Required in kubeadm mode; `0.0.0.0/0` is refused when deletionProtection is on.",
        (),
    )
    pod_cidr: str = doc_field("Pod network; must not overlap the VPC or the service CIDR.", "10.244.0.0/16")
    service_cidr: str = doc_field(
        "Service network (/12 or smaller); must not overlap the VPC or the pod CIDR.", "10.96.0.0/12"
    )
    kubeconfig: str | None = doc_field(
        "existing mode: path to the kubeconfig file (default: the provider's own lookup, KUBECONFIG or ~/.kube/config).",
        None,
    )
    context: str | None = doc_field(
        "existing mode, required: the kubeconfig context to deploy to, so a laptop's current context is never used by accident.",
        None,
    )
    api_endpoint: str = doc_field(
        "`public`: an internal NLB for nodes and an internet-facing one for apiAllowedCidrs. `internal`: VPC only, "
        "needs 3 or 5 control planes behind the NLB. `natInstance`: no load balancer; nodes use the one control "
        "plane's fixed private address, admins the NAT instance's Elastic IP, which forwards port 6443 to it "
        "(needs controlPlane.count 1 and network.natMode instance; chosen when the cluster is created).",
        "public",
    )
    node_name_pattern: str | None = doc_field(
        "existing mode: regex of the node names whose kubelet serving certificates are approved; unset: kind's names. kubeadm mode derives it from the EC2 DNS names.",
        None,
    )
    ami_id: str | None = doc_field(
        "AMI of every node (Ubuntu 24.04 amd64). Unset: Canonical's current image is looked up once and recorded in SSM; set it to upgrade nodes explicitly.",
        None,
    )


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    cidr: str = doc_field("VPC CIDR, /16 to /24.", "10.0.0.0/16")
    az_count: int = doc_field("Availability zones used, 1 to 6; at least 2 with more than one control plane.", 2)
    nat_mode: str = doc_field(
        "`none`, `single` (one NAT gateway), `perAz` (one per AZ, no cross-AZ dependency) or `instance` "
        "(one small Graviton NAT instance, replaced by its auto-scaling group when it fails: docs/architecture.md "
        "compares them).",
        "single",
    )
    nat_instance_type: str = doc_field(
        "natMode instance: the NAT instance's type, a Graviton (arm64) type; it boots Ubuntu for arm64.", "t4g.nano"
    )
    flow_logs: bool = doc_field("VPC flow logs to CloudWatch Logs.", True)
    flow_logs_retention_days: int = doc_field(
        "Retention of the flow-log group, one of the periods CloudWatch Logs accepts.", 90
    )


@dataclass(frozen=True, kw_only=True)
class ControlPlaneSettings:
    count: int = doc_field("Control-plane nodes: 1, 3 or 5 (etcd quorum).", 1)
    instance_type: str = doc_field("EC2 instance type of the control planes.", "t3.medium")
    root_volume_gb: int = doc_field("Root volume size (GiB), encrypted gp3.", 30)
    etcd_volume_gb: int = doc_field("Separate encrypted volume for /var/lib/etcd (GiB).", 20)
    etcd_snapshot_interval_minutes: int = doc_field(
        "How often each control plane snapshots etcd to S3 (5 to 1440).", 60
    )
    etcd_snapshot_retention_days: int = doc_field("How long etcd snapshots are kept in the bucket (days).", 14)


@dataclass(frozen=True, kw_only=True)
class Taint:
    key: str = doc_field("Taint key (a qualified name).")
    effect: str = doc_field("`NoSchedule`, `PreferNoSchedule` or `NoExecute`.")
    value: str = doc_field("Taint value (a label value, may be empty).", "")


@dataclass(frozen=True, kw_only=True)
class NodePoolSettings:
    name: str = doc_field("Pool name, a DNS label, unique.")
    instance_type: str = doc_field("EC2 instance type.", "t3.large")
    min: int = doc_field(
        "Minimum size of the pool, in total (zonal: spread over its groups from the first AZ on, so 1 keeps "
        "one node in the first group). 0: the autoscaler may empty it and scales it up from zero when a pod "
        "needs it.",
        1,
    )
    max: int = doc_field("Maximum size (of each group, when zonal): the autoscaler's ceiling.", 3)
    desired: int = doc_field(
        "Initial size, in total (min <= desired <= max; zonal: placed from the first AZ on). "
        "Afterwards the cluster autoscaler owns it.",
        2,
    )
    zonal: bool = doc_field(
        "One auto-scaling group per AZ (network.azCount), so a node that replaces one holding a "
        "zonal EBS volume comes up in that volume's AZ. Required for app.db.nodePool with azCount > 1.",
        False,
    )
    first_az_slot: int = doc_field(
        "Zonal pools: the AZ (0-based, in the order of the privateSubnetIds output) of the pool's first "
        "group, which keeps the group the pool had. Turning an existing pool zonal: the AZ of its nodes "
        "(the database's volume), so that none is replaced.",
        0,
    )
    spot: bool = doc_field("Run the pool on spot capacity.", False)
    root_volume_gb: int = doc_field("Root volume size (GiB), encrypted gp3.", 50)
    labels: Mapping[str, str] = doc_field("Node labels the kubelet registers.", default_factory=_empty_map)
    taints: tuple[Taint, ...] = doc_field("Node taints the kubelet registers.", ())


@dataclass(frozen=True, kw_only=True)
class WorkloadSettings:
    image: str = doc_field("Container image with a tag or digest (never `latest`).")
    min_replicas: int = doc_field("HPA minimum replicas.", 2)
    max_replicas: int = doc_field("HPA maximum replicas.", 4)
    cpu: str = doc_field("CPU request (Kubernetes quantity).", "100m")
    memory: str = doc_field("Memory request (Kubernetes quantity).", "128Mi")
    target_cpu_percent: int = doc_field("HPA target CPU utilisation, percent of the request.", 70)
    target_memory_percent: int = doc_field("HPA target memory utilisation, percent of the request.", 80)


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    image: str = doc_field("Document database image with a tag or digest.", versions.mongo_image("8.0"))
    storage_gb: int = doc_field("Data volume size (GiB).", 20)
    storage_class: str = doc_field("StorageClass of the data volume.", "gp3")
    backup_schedule: str = doc_field("Backup CronJob schedule (cron, 5 fields, or @daily etc.).", "17 3 * * *")
    backup_retention_days: int = doc_field("How long database backups are kept (days).", 30)
    node_pool: str | None = doc_field("Node pool (from nodePools) the database is pinned to; unset: no pinning.", None)


@dataclass(frozen=True, kw_only=True)
class TlsSettings:
    mode: str | None = doc_field(
        "`acme` (Let's Encrypt: a trusted certificate, needs `email`), `selfSigned` (a cluster CA) or `none` (plain HTTP); unset: `selfSigned` on a kind cluster (context `kind-*`), else `none`.",
        None,
    )
    acme_server: str = doc_field(
        "`staging` (untrusted test certificates, generous limits) or `production` Let's Encrypt.", "staging"
    )
    email: str | None = doc_field("Contact of the ACME account (expiry notices); required with `acme`.", None)


@dataclass(frozen=True, kw_only=True)
class DnsSettings:
    provider: str = doc_field(
        "`route53`: external-dns keeps `app.hostname`'s record pointing at the ingress load balancer, and ACME proves the name by DNS-01; `none`: the record is yours to keep.",
        "none",
    )
    hosted_zone_id: str | None = doc_field("route53: the hosted zone's id (Z...).", None)
    zone: str | None = doc_field("route53: the hosted zone's name; `app.hostname` must lie inside it.", None)


@dataclass(frozen=True, kw_only=True)
class AppSettings:
    hostname: str = doc_field("DNS name the ingress serves.")
    frontend: WorkloadSettings = doc_field(
        "Front end.", default_factory=lambda: WorkloadSettings(image=versions.image("nginxUnprivileged"))
    )
    api: WorkloadSettings = doc_field(
        "REST API.",
        default_factory=lambda: WorkloadSettings(
            image=versions.image("podinfo"), max_replicas=6, cpu="250m", memory="256Mi"
        ),
    )
    db: DatabaseSettings = doc_field("Document database.", default_factory=DatabaseSettings)
    tls: TlsSettings = doc_field("HTTPS for `hostname`.", default_factory=TlsSettings)


@dataclass(frozen=True, kw_only=True)
class ObservabilitySettings:
    enabled: bool = doc_field(
        "Metrics, alerts and dashboards (kube-prometheus-stack) and log shipping (Fluent Bit).", True
    )
    metrics_retention_days: int = doc_field("How long Prometheus keeps metrics (days, 1 to 365).", 15)
    metrics_storage_gb: int = doc_field(
        "Prometheus data volume (GiB, at least 5); Prometheus also drops the oldest data at 70% of it.", 50
    )
    logs: str | None = doc_field(
        "`cloudwatch` (kubeadm mode: one log group per cluster, the API audit log included), `stdout` (Fluent Bit prints the logs; for kind) or `off`; unset: `cloudwatch` in kubeadm mode, `stdout` in existing mode.",
        None,
    )
    log_retention_days: int = doc_field(
        "Retention of the cluster's log group, one of the periods CloudWatch Logs accepts.", 30
    )
    api_error_percent: int = doc_field(
        "Alert when more than this percent of the API's requests fail (5xx) for 10 minutes.", 5
    )
    api_p99_latency_ms: int = doc_field(
        "Alert when the API's 99th-percentile latency stays above this (milliseconds) for 10 minutes.", 1000
    )


@dataclass(frozen=True, kw_only=True)
class BudgetSettings:
    monthly_usd: float | None = doc_field(
        "Monthly budget in USD, a positive number: an AWS Budgets cost budget on this stack's tagged spend "
        '(docs/operations.md, "Budgets"), and the policy pack fails a preview whose cost estimate exceeds it. '
        "Unset: no budget.",
        None,
    )
    alert_emails: tuple[str, ...] = doc_field(
        f"Up to {MAX_BUDGET_EMAILS} addresses AWS Budgets emails when the actual or the forecast spend of the month "
        "passes monthlyUsd.",
        (),
    )


@dataclass(frozen=True, kw_only=True)
class TenantQuota:
    cpu: str = doc_field("CPU all the tenant's pods may request together (`requests.cpu`).", "2")
    memory: str = doc_field(
        "Memory all its pods may request, and be limited to, together (`requests.memory`, `limits.memory`).", "4Gi"
    )
    pods: int = doc_field("Pods at most.", 20)
    storage: str = doc_field("Storage all its PersistentVolumeClaims may request together.", "20Gi")


@dataclass(frozen=True, kw_only=True)
class TenantContainerDefaults:
    cpu_request: str = doc_field("CPU request of a container that sets none (LimitRange).", "100m")
    memory_request: str = doc_field("Memory request of a container that sets none.", "128Mi")
    cpu_limit: str = doc_field("CPU limit of a container that sets none.", "500m")
    memory_limit: str = doc_field("Memory limit of a container that sets none.", "256Mi")


@dataclass(frozen=True, kw_only=True)
class TenantSettings:
    name: str = doc_field(
        "The team's namespace: a DNS label of at most 40 characters, unique, not a namespace of the platform's."
    )
    quota: TenantQuota = doc_field("What the namespace may use in all (ResourceQuota).", default_factory=TenantQuota)
    defaults: TenantContainerDefaults = doc_field(
        "Requests and limits of containers that set none (LimitRange).", default_factory=TenantContainerDefaults
    )
    node_pools: tuple[str, ...] = doc_field(
        "Node pools its pods may run on (each must label its nodes `podium/pool: <name>`); pods then must "
        "select one with a nodeSelector. Empty: any pool whose taints they tolerate.",
        (),
    )
    load_balancers: bool = doc_field(
        "May create Services of type LoadBalancer, at most 5 (each an NLB, paid for).", False
    )
    https_egress: bool = doc_field(
        "Its pods may open HTTPS (TCP 443) connections to the internet (AWS APIs, SaaS), never into the VPC, "
        "the pod or service networks or instance metadata. Off: DNS and its own namespace only.",
        False,
    )
    credential_generation: int = doc_field(
        "The generation of its kubeconfig's client certificate: raise it to revoke the one handed out "
        '(docs/operations.md, "Tenants").',
        1,
    )


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything under the `podium` namespace, as written in Pulumi.<stack>.yaml."""

    kubernetes_version: str = doc_field(
        "Kubernetes `1.MINOR.PATCH`; minors 1.35 and 1.36 (those with a pinned containerd), patches up to the newest checked release.",
        "1.35.8",
    )
    cluster: ClusterSettings = doc_field("Cluster.", default_factory=ClusterSettings)
    network: NetworkSettings = doc_field("Network (kubeadm mode).", default_factory=NetworkSettings)
    control_plane: ControlPlaneSettings = doc_field(
        "Control plane (kubeadm mode).", default_factory=ControlPlaneSettings
    )
    node_pools: tuple[NodePoolSettings, ...] = doc_field(
        "Worker node pools (kubeadm mode).", (NodePoolSettings(name="general"),)
    )
    app: AppSettings = doc_field("The web application.")
    deletion_protection: bool = doc_field("Protect stateful and hard-to-rebuild resources from deletion.", True)
    dns: DnsSettings = doc_field("The app's DNS record.", default_factory=DnsSettings)
    observability: ObservabilitySettings = doc_field(
        "Metrics, alerts, dashboards and logs.", default_factory=ObservabilitySettings
    )
    alert_webhook_url: str | None = doc_field(
        "Secret: the https webhook Alertmanager sends alerts to (`pulumi config set --secret podium:alertWebhookUrl ...`). Unset: alerts show in Alertmanager and nobody is paged.",
        None,
    )
    tags: Mapping[str, str] = doc_field(
        "Tags on every AWS resource, besides `environment` and `managed-by`.", default_factory=_empty_map
    )
    addon_versions: Mapping[str, str] = doc_field(
        "Helm chart version overrides by add-on (`calico`, `awsCloudControllerManager`, `awsEbsCsiDriver`, `metricsServer`, `kubeletCsrApprover`, `traefik`); unset: the pinned, checked versions.",
        default_factory=_empty_map,
    )
    budget: BudgetSettings = doc_field("Cost budget (kubeadm mode).", default_factory=BudgetSettings)
    tenants: tuple[TenantSettings, ...] = doc_field(
        "Other teams' namespaces, with quotas, guardrails and a kubeconfig limited to their namespace (kubeadm mode).",
        (),
    )


@dataclass(frozen=True, kw_only=True)
class Settings(StackConfig):
    """The validated stack config plus what the stack itself determines."""

    environment: str = ""
    project: str = ""
    aws_region: str | None = None

    @property
    def cluster_name(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def region(self) -> str:
        """The AWS region; settings validation requires it in kubeadm mode."""
        if self.aws_region is None:
            raise ValueError("aws:region is not set")
        return self.aws_region

    @property
    def on_aws(self) -> bool:
        return self.cluster.mode == "kubeadm"

    @property
    def tls_mode(self) -> str:
        """app.tls.mode, or: selfSigned on a kind cluster (its context `kind-*`), else none."""
        kind = not self.on_aws and (self.cluster.context or "").startswith("kind-")
        return self.app.tls.mode or ("selfSigned" if kind else "none")

    @property
    def log_destination(self) -> str:
        """Where Fluent Bit sends the logs: observability.logs, or by the cluster's mode."""
        if not self.observability.enabled:
            return "off"
        return self.observability.logs or ("cloudwatch" if self.on_aws else "stdout")


class SettingsError(ValueError):
    """Invalid stack config; `problems` holds one `key.path: message` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid stack configuration ({count}):\n{lines}")


def from_config(
    raw: Mapping[str, Any],
    *,
    project: str,
    stack: str,
    aws_region: str | None,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Validates `raw` (the `podium` namespace, keys without the prefix) into Settings;
    `secret_keys`: the keys of `raw` the stack holds encrypted."""
    problems = Problems(NAMESPACE)
    parsed = parse_object(StackConfig, dict(raw), "", problems)
    if is_missing(parsed):  # a required key is absent: nothing to check the rules on
        raise SettingsError(problems.lines)
    settings = Settings(
        **{f: getattr(parsed, f) for f in StackConfig.__dataclass_fields__},
        environment=stack,
        project=project,
        aws_region=aws_region,
    )
    _Rules(settings, raw, problems, secret_keys).check()
    if problems.lines:
        raise SettingsError(problems.lines)
    return settings


def load() -> Settings:
    """Reads the running stack's config, before any resource exists. Invalid config
    stops the program with a RunError: the CLI then prints the list, not a traceback."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    values = _namespace_values(NAMESPACE)
    try:
        return from_config(
            values,
            project=pulumi.get_project(),
            stack=pulumi.get_stack(),
            aws_region=pulumi.Config("aws").get("region"),
            secret_keys=frozenset(k for k in values if runtime_config.is_config_secret(f"{NAMESPACE}:{k}")),
        )
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None


def _namespace_values(namespace: str) -> dict[str, Any]:
    """All keys set in one config namespace. The engine hands config over as strings,
    objects and lists JSON-encoded; Pulumi's Config API cannot list keys, so unknown-key
    detection reads the runtime's map."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values: dict[str, Any] = {}
    for full_key, text in merged.items():
        ns, _, key = full_key.partition(":")
        if ns != namespace:
            continue
        values[key] = _decode(text)
    return values


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    if text[:1] in "{[" or text in ("true", "false") or re.fullmatch(r"-?\d+", text):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
# Graviton families (m7g, c6gn, t4g, a1...): arm64, while nodes boot the amd64 image.
_ARM_FAMILY = re.compile(r"^(a1|[a-z]+[0-9]+g[a-z-]*)$")
_CHART_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
_AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_VERSION = re.compile(r"^1\.([0-9]+)\.([0-9]+)$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


def image_problem(ref: str) -> str | None:
    """Why an image reference is unacceptable, or None: it needs a tag or a digest,
    and the tag must not be `latest` (the version would change under a running app)."""
    if not ref or any(c.isspace() for c in ref):
        return "must be an image reference such as registry/name:tag"
    name, at, digest = ref.partition("@")
    if at and not _DIGEST.match(digest):
        return f"digest {digest!r} is not sha256:<64 hex digits>"
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else None
    if tag is not None and not _TAG.match(tag):
        return f"tag {tag!r} is not a valid image tag"
    if tag == "latest":
        return "must not use the `latest` tag: pin a version or a digest"
    if tag is None and not at:
        return "needs a tag or a digest (an untagged image means `latest`)"
    return None


def cron_problem(schedule: str) -> str | None:
    """Why a CronJob schedule is invalid, or None (standard 5-field cron or a macro)."""
    if schedule.startswith("@"):
        return None if schedule in _CRON_MACROS else f"unknown macro {schedule!r}"
    fields = schedule.split()
    if len(fields) != 5:
        return f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for text, (what, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"{what} step {step!r} must be a positive number"
            if base == "*":
                continue
            bounds = base.split("-")
            if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
                return f"{what} {part!r} is not a number, range, list or step"
            if not all(low <= int(b) <= high for b in bounds):
                return f"{what} {part!r} is outside {low}-{high}"
    return None


def _network(text: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        return None


class _Rules:
    """Semantic rules over parsed settings; adds one problem per broken rule."""

    def __init__(self, s: Settings, raw: Mapping[str, Any], problems: Problems, secret_keys: frozenset[str]) -> None:
        self.s = s
        self.raw = raw
        self.secret_keys = secret_keys
        self.add = problems.add

    def check(self) -> None:
        self.stack_name()
        self.kubernetes_version()
        self.cluster()
        if self.s.on_aws:
            self.aws_only()
        else:
            self.existing_only()
        self.app()
        self.tls_and_dns()
        self.observability()
        self.tags()
        self.addon_versions()
        self.budget()
        self.tenants()

    def tls_and_dns(self) -> None:
        tls, dns, host = self.s.app.tls, self.s.dns, self.s.app.hostname
        if tls.mode is not None and tls.mode not in TLS_MODES:
            self.add("app.tls.mode", f"{tls.mode!r} must be one of {', '.join(TLS_MODES)}")
        if tls.acme_server not in ACME_SERVERS:
            self.add("app.tls.acmeServer", f"{tls.acme_server!r} must be one of {', '.join(ACME_SERVERS)}")
        if self.s.tls_mode == "acme":
            if tls.email is None:
                self.add("app.tls.email", "is required with mode acme: Let's Encrypt sends expiry notices there")
            elif not _EMAIL.match(tls.email):
                self.add("app.tls.email", f"{tls.email!r} is not an email address")
            unissuable = next((x for x in _UNISSUABLE_SUFFIXES if host == x or host.endswith("." + x)), None)
            if tls.acme_server == "production" and unissuable:
                self.add(
                    "app.tls.acmeServer",
                    f"production: no public CA issues for {host!r} (.{unissuable} is a documentation or local name); set app.hostname to a name of yours, or use selfSigned",
                )
        elif tls.email is not None:
            self.add("app.tls.email", "is only used with mode acme")
        if dns.provider not in DNS_PROVIDERS:
            self.add("dns.provider", f"{dns.provider!r} must be one of {', '.join(DNS_PROVIDERS)}")
        elif dns.provider == "route53":
            if not self.s.on_aws:
                self.add("dns.provider", "route53 needs cluster.mode kubeadm (an AWS account)")
            if dns.hosted_zone_id is None or not _HOSTED_ZONE_ID.match(dns.hosted_zone_id):
                self.add(
                    "dns.hostedZoneId",
                    f"{dns.hosted_zone_id!r} is not a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ",
                )
            if dns.zone is None or not all(_DNS_LABEL.match(p) for p in dns.zone.split(".")):
                self.add("dns.zone", f"{dns.zone!r} is not a lower-case DNS name")
            elif host != dns.zone and not host.endswith("." + dns.zone):
                self.add("app.hostname", f"{host!r} is not inside the hosted zone dns.zone {dns.zone!r}")
        else:
            for key in ("hosted_zone_id", "zone"):
                if getattr(dns, key) is not None:
                    self.add(f"dns.{camel(key)}", "is only used with provider route53")

    def observability(self) -> None:
        o = self.s.observability
        if not 1 <= o.metrics_retention_days <= 365:
            self.add("observability.metricsRetentionDays", f"{o.metrics_retention_days} must be between 1 and 365")
        if o.metrics_storage_gb < 5:
            self.add("observability.metricsStorageGb", f"{o.metrics_storage_gb} must be at least 5")
        if o.logs is not None and o.logs not in LOG_DESTINATIONS:
            self.add("observability.logs", f"{o.logs!r} must be one of {', '.join(LOG_DESTINATIONS)}")
        elif o.logs == "cloudwatch" and o.enabled and not self.s.on_aws:
            self.add("observability.logs", "cloudwatch needs cluster.mode kubeadm (an AWS account): use stdout or off")
        if o.log_retention_days not in LOG_RETENTION_DAYS:
            self.add(
                "observability.logRetentionDays",
                f"{o.log_retention_days} is not a CloudWatch Logs retention period ({', '.join(map(str, LOG_RETENTION_DAYS))})",
            )
        if not 1 <= o.api_error_percent <= 100:
            self.add("observability.apiErrorPercent", f"{o.api_error_percent} must be between 1 and 100")
        if o.api_p99_latency_ms < 1:
            self.add("observability.apiP99LatencyMs", f"{o.api_p99_latency_ms} must be positive")
        url = self.s.alert_webhook_url
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                # Not echoed: the value is a secret.
                self.add("alertWebhookUrl", "must be an https:// URL with a host")
            if "alertWebhookUrl" not in self.secret_keys:
                self.add(
                    "alertWebhookUrl",
                    "holds a credential: set it with `pulumi config set --secret podium:alertWebhookUrl ...`",
                )
            if not o.enabled:
                self.add("alertWebhookUrl", "is only used with observability.enabled")

    def cidr(self, path: str, text: str) -> ipaddress.IPv4Network | None:
        try:
            return ipaddress.IPv4Network(text)
        except ValueError as error:
            hint = ""
            if _network(text.split("/")[0] + "/32") and "host bits" in str(error):
                hint = f" (did you mean {ipaddress.IPv4Network(text, strict=False)}?)"
            self.add(path, f"{text!r} is not an IPv4 CIDR: {error}{hint}")
            return None

    def stack_name(self) -> None:
        if not _DNS_LABEL.match(self.s.environment) or len(self.s.cluster_name) > MAX_CLUSTER_NAME:
            self.add(
                "(stack name)",
                f"stack {self.s.environment!r} gives cluster name {self.s.cluster_name!r}: "
                f"use lower-case letters, digits and '-', at most {MAX_CLUSTER_NAME} characters in all",
            )

    def kubernetes_version(self) -> None:
        version = self.s.kubernetes_version
        match = _VERSION.match(version)
        patches = versions.newest_patches()
        if not match:
            self.add("kubernetesVersion", f"{version!r} must be a full version 1.MINOR.PATCH")
            return
        minor = f"1.{match.group(1)}"
        if minor not in patches:
            self.add("kubernetesVersion", versions.unsupported_reason(minor, date.today()))
        elif int(match.group(2)) > int(patches[minor].rsplit(".", 1)[1]):
            self.add(
                "kubernetesVersion", f"{version} is newer than the newest checked {minor} release, {patches[minor]}"
            )

    def cluster(self) -> None:
        c = self.s.cluster
        if c.mode not in CLUSTER_MODES:
            self.add("cluster.mode", f"{c.mode!r} must be one of {', '.join(CLUSTER_MODES)}")
        pod = self.cidr("cluster.podCidr", c.pod_cidr)
        service = self.cidr("cluster.serviceCidr", c.service_cidr)
        if pod and pod.prefixlen > 20:
            self.add("cluster.podCidr", f"{pod} is too small for a cluster's pods: use /20 or larger")
        if service and service.prefixlen < 12:
            self.add("cluster.serviceCidr", f"{service} is larger than the API server accepts (/12 at most)")
        if pod and service and pod.overlaps(service):
            self.add("cluster.serviceCidr", f"{service} overlaps cluster.podCidr {pod}")
        for i, text in enumerate(c.api_allowed_cidrs):
            allowed = self.cidr(f"cluster.apiAllowedCidrs[{i}]", text)
            if allowed and allowed.prefixlen == 0 and self.s.deletion_protection:
                self.add(
                    f"cluster.apiAllowedCidrs[{i}]",
                    "0.0.0.0/0 opens the API endpoint to the internet, refused with deletionProtection on",
                )

    def aws_only(self) -> None:
        s = self.s
        if not s.aws_region:
            self.add_aws_region("is required in kubeadm mode (pulumi config set aws:region ...)")
        elif not _REGION.match(s.aws_region):
            self.add_aws_region(f"{s.aws_region!r} is not an AWS region name")
        for key in ("kubeconfig", "context", "node_name_pattern"):
            if getattr(s.cluster, key) is not None:
                self.add(f"cluster.{camel(key)}", "is only used with cluster.mode existing")
        if not s.cluster.api_allowed_cidrs:
            self.add(
                "cluster.apiAllowedCidrs",
                "is required in kubeadm mode: list the CIDRs of the people and CI that run kubectl and pulumi",
            )
        if s.cluster.api_endpoint not in API_ENDPOINTS:
            self.add("cluster.apiEndpoint", f"{s.cluster.api_endpoint!r} must be one of {', '.join(API_ENDPOINTS)}")
        elif s.cluster.api_endpoint == "internal" and s.control_plane.count == 1:
            self.add(
                "cluster.apiEndpoint",
                "internal needs controlPlane.count 3 or 5 behind its load balancer; with one control plane use "
                "public, or natInstance",
            )
        elif s.cluster.api_endpoint == "natInstance" and (
            s.control_plane.count != 1 or s.network.nat_mode != "instance"
        ):
            self.add(
                "cluster.apiEndpoint",
                f"natInstance forwards to one control plane through the NAT instance: it needs controlPlane.count 1 "
                f"(is {s.control_plane.count}) and network.natMode instance (is {s.network.nat_mode})",
            )
        if s.cluster.ami_id is not None and not _AMI_ID.match(s.cluster.ami_id):
            self.add("cluster.amiId", f"{s.cluster.ami_id!r} is not an AMI id such as ami-0123456789abcdef0")
        self.network()
        self.control_plane()
        self.node_pools()
        classes = storage_classes(s.deletion_protection)
        if s.app.db.storage_class not in classes:
            self.add(
                "app.db.storageClass",
                f"{s.app.db.storage_class!r} is not a StorageClass Podium creates here ({', '.join(classes)})",
            )

    def add_aws_region(self, message: str) -> None:
        self.add("region", message, namespace="aws")

    def network(self) -> None:
        n = self.s.network
        vpc = self.cidr("network.cidr", n.cidr)
        if vpc and not 16 <= vpc.prefixlen <= 24:
            self.add("network.cidr", f"{vpc} must be between /16 and /24")
        for key, text in (("podCidr", self.s.cluster.pod_cidr), ("serviceCidr", self.s.cluster.service_cidr)):
            other = _network(text)
            if vpc and other and vpc.overlaps(other):
                self.add(f"cluster.{key}", f"{other} overlaps the VPC network.cidr {vpc}")
        if not 1 <= n.az_count <= MAX_AZS:
            self.add("network.azCount", f"{n.az_count} must be between 1 and {MAX_AZS}")
        elif self.s.control_plane.count > 1 and n.az_count < 2:
            self.add(
                "network.azCount",
                f"must be at least 2 with {self.s.control_plane.count} control planes, or one AZ outage stops the cluster",
            )
        if n.nat_mode not in NAT_MODES:
            self.add("network.natMode", f"{n.nat_mode!r} must be one of {', '.join(NAT_MODES)}")
        if not _INSTANCE_TYPE.match(n.nat_instance_type) or not _ARM_FAMILY.match(n.nat_instance_type.split(".")[0]):
            self.add(
                "network.natInstanceType",
                f"{n.nat_instance_type!r} must be a Graviton (arm64) instance type such as t4g.nano: "
                "the NAT instance boots Ubuntu for arm64",
            )
        if n.flow_logs_retention_days not in LOG_RETENTION_DAYS:
            self.add(
                "network.flowLogsRetentionDays",
                f"{n.flow_logs_retention_days} is not a CloudWatch Logs retention period ({', '.join(map(str, LOG_RETENTION_DAYS))})",
            )

    def control_plane(self) -> None:
        cp = self.s.control_plane
        if cp.count not in CONTROL_PLANE_COUNTS:
            self.add("controlPlane.count", f"{cp.count} must be 1, 3 or 5 (an odd etcd quorum)")
        self.instance_type("controlPlane.instanceType", cp.instance_type)
        if cp.root_volume_gb < 8:
            self.add("controlPlane.rootVolumeGb", f"{cp.root_volume_gb} must be at least 8 (the AMI's own size)")
        if cp.etcd_volume_gb < 1:
            self.add("controlPlane.etcdVolumeGb", f"{cp.etcd_volume_gb} must be positive")
        if not 5 <= cp.etcd_snapshot_interval_minutes <= 1440:
            self.add(
                "controlPlane.etcdSnapshotIntervalMinutes",
                f"{cp.etcd_snapshot_interval_minutes} must be between 5 and 1440 (a day)",
            )
        if cp.etcd_snapshot_retention_days < 1:
            self.add("controlPlane.etcdSnapshotRetentionDays", f"{cp.etcd_snapshot_retention_days} must be positive")

    def instance_type(self, path: str, text: str) -> None:
        if not _INSTANCE_TYPE.match(text):
            self.add(path, f"{text!r} is not an EC2 instance type such as m7i.large")
        elif _ARM_FAMILY.match(text.split(".")[0]):
            self.add(path, f"{text!r} is an arm64 (Graviton) type; nodes boot the amd64 Ubuntu image, pick an x86 type")

    def node_pools(self) -> None:
        pools = self.s.node_pools
        if not pools:
            self.add("nodePools", "needs at least one pool in kubeadm mode")
        seen: set[str] = set()
        for i, pool in enumerate(pools):
            at = f"nodePools[{i}]"
            if not _DNS_LABEL.match(pool.name) or len(pool.name) > 20:
                self.add(f"{at}.name", f"{pool.name!r} must be a DNS label of at most 20 characters")
            elif pool.name in seen:
                self.add(f"{at}.name", f"{pool.name!r} is used by another pool")
            seen.add(pool.name)
            self.instance_type(f"{at}.instanceType", pool.instance_type)
            if pool.root_volume_gb < 8:
                self.add(f"{at}.rootVolumeGb", f"{pool.root_volume_gb} must be at least 8 (the AMI's own size)")
            if pool.min < 0:
                self.add(f"{at}.min", f"{pool.min} must not be negative")
            if pool.max < 1:
                self.add(f"{at}.max", f"{pool.max} must be at least 1")
            groups = self.s.network.az_count if pool.zonal else 1
            if pool.first_az_slot and not pool.zonal:
                self.add(f"{at}.firstAzSlot", "only places the groups of a zonal pool: set zonal: true, or remove it")
            elif not 0 <= pool.first_az_slot < self.s.network.az_count:
                self.add(
                    f"{at}.firstAzSlot",
                    f"{pool.first_az_slot} must be an AZ slot from 0 to {self.s.network.az_count - 1} (network.azCount)",
                )
            if not pool.zonal and pool.min > pool.max:
                self.add(f"{at}.max", f"{pool.max} is below min {pool.min}")
            elif pool.zonal and pool.min > pool.max * groups:
                self.add(f"{at}.min", f"{pool.min} is above max {pool.max} x {groups} groups (network.azCount)")
            elif pool.zonal and not pool.min <= pool.desired <= pool.max * groups:
                self.add(
                    f"{at}.desired",
                    f"{pool.desired} must be between min {pool.min} and {pool.max * groups}: a zonal pool has "
                    f"{groups} groups (network.azCount), each of max {pool.max}",
                )
            elif not pool.zonal and not pool.min <= pool.desired <= pool.max:
                self.add(f"{at}.desired", f"{pool.desired} must be between min {pool.min} and max {pool.max}")
            for key, value in pool.labels.items():
                self.label(f"{at}.labels.{key}", key, value)
                self.node_template_key(f"{at}.labels.{key}", key)
            for j, taint in enumerate(pool.taints):
                self.qualified_name(f"{at}.taints[{j}].key", taint.key)
                self.node_template_key(f"{at}.taints[{j}].key", taint.key)
                if not _LABEL_VALUE.match(taint.value):
                    self.add(f"{at}.taints[{j}].value", f"{taint.value!r} is not a valid taint value")
                if taint.effect not in TAINT_EFFECTS:
                    self.add(f"{at}.taints[{j}].effect", f"{taint.effect!r} must be one of {', '.join(TAINT_EFFECTS)}")
            group_tags = len(self.s.tags) + len(RESERVED_TAG_KEYS) + PODIUM_GROUP_TAGS
            if group_tags + len(pool.labels) + len(pool.taints) > GROUP_TAG_LIMIT:
                self.add(
                    f"{at}.labels",
                    f"{len(pool.labels)} labels and {len(pool.taints)} taints: with the {len(self.s.tags)} tags "
                    f"and Podium's own, its groups would carry {group_tags + len(pool.labels) + len(pool.taints)} "
                    f"tags (the autoscaler reads labels and taints from tags); AWS allows {GROUP_TAG_LIMIT}",
                )
        if pools and all(_repels(p) for p in pools):
            self.add(
                "nodePools",
                "every pool has a NoSchedule or NoExecute taint: add-ons and the app need one untainted pool",
            )
        elif pools and all(p.desired < 1 for p in pools if not _repels(p)):
            self.add(
                "nodePools",
                "no untainted pool starts with a node (desired >= 1): `pulumi up` waits for one before the add-ons",
            )
        db_pool = self.s.app.db.node_pool
        if db_pool is not None and db_pool not in seen:
            self.add("app.db.nodePool", f"{db_pool!r} is not one of nodePools ({', '.join(sorted(seen))})")
        for i, pool in enumerate(pools):
            if pool.name == db_pool and not pool.zonal and self.s.network.az_count > 1:
                self.add(
                    f"nodePools[{i}].zonal",
                    f"pool {pool.name!r} holds the database (app.db.nodePool), whose EBS volume stays in one AZ: "
                    "set zonal: true, so that its replacement node comes up in that AZ",
                )

    def node_template_key(self, path: str, key: str) -> None:
        """Labels and taints reach the cluster autoscaler as ASG tag keys (for scaling
        from zero), which AWS limits to 128 characters."""
        room = NODE_TEMPLATE_KEY_ROOM
        if len(key) > room:
            self.add(path, f"{key!r} is {len(key)} characters; as an autoscaler node-template tag it may have {room}")

    def qualified_name(self, path: str, key: str) -> bool:
        prefix, slash, name = key.rpartition("/")
        ok = bool(_QUALIFIED_NAME.match(name)) and (
            not slash or (len(prefix) <= 253 and all(_DNS_LABEL.match(p) for p in prefix.split(".")))
        )
        if not ok:
            self.add(path, f"{key!r} is not a qualified name ([prefix/]name)")
        return ok

    def label(self, path: str, key: str, value: str) -> None:
        if self.qualified_name(path, key):
            prefix = key.rpartition("/")[0]
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            allowed = any(prefix == ns or prefix.endswith("." + ns) for ns in KUBELET_LABEL_NAMESPACES)
            if restricted and not allowed:
                self.add(
                    path,
                    f"the kubelet may not set labels under {prefix}/ (only {', '.join(KUBELET_LABEL_NAMESPACES)}); the node would never register",
                )
        if not _LABEL_VALUE.match(value):
            self.add(path, f"{value!r} is not a valid label value")

    def existing_only(self) -> None:
        for key in ("network", "controlPlane", "nodePools"):
            if key in self.raw:
                self.add(key, "is only used with cluster.mode kubeadm; remove it")
        if self.s.cluster.context is None:
            self.add(
                "cluster.context",
                "is required in existing mode, so the deploy never targets whatever context is current",
            )
        if self.s.cluster.api_allowed_cidrs:
            self.add("cluster.apiAllowedCidrs", "is only used with cluster.mode kubeadm")
        if self.s.app.db.node_pool is not None:
            self.add("app.db.nodePool", "names a node pool, which only kubeadm mode creates")
        pattern = self.s.cluster.node_name_pattern
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                self.add("cluster.nodeNamePattern", f"{pattern!r} is not a regular expression: {error}")

    def app(self) -> None:
        app = self.s.app
        host = app.hostname
        if len(host) > 253 or not all(_DNS_LABEL.match(p) for p in host.split(".")):
            self.add("app.hostname", f"{host!r} is not a lower-case DNS name")
        for name, w in (("frontend", app.frontend), ("api", app.api)):
            at = f"app.{name}"
            self.image(f"{at}.image", w.image)
            if w.min_replicas < 1:
                self.add(f"{at}.minReplicas", f"{w.min_replicas} must be at least 1")
            if w.max_replicas < w.min_replicas:
                self.add(f"{at}.maxReplicas", f"{w.max_replicas} is below minReplicas {w.min_replicas}")
            if not _CPU.match(w.cpu) or _is_zero(w.cpu):
                self.add(f"{at}.cpu", f"{w.cpu!r} is not a positive CPU quantity such as 250m or 1")
            if not _MEMORY.match(w.memory) or _is_zero(w.memory):
                self.add(f"{at}.memory", f"{w.memory!r} is not a positive memory quantity such as 256Mi")
            for key, pct in (
                ("targetCpuPercent", w.target_cpu_percent),
                ("targetMemoryPercent", w.target_memory_percent),
            ):
                if not 1 <= pct <= 100:
                    self.add(f"{at}.{key}", f"{pct} must be between 1 and 100")
        db = app.db
        self.image("app.db.image", db.image)
        if db.storage_gb < 1:
            self.add("app.db.storageGb", f"{db.storage_gb} must be positive")
        if len(db.storage_class) > 253 or not all(_DNS_LABEL.match(p) for p in db.storage_class.split(".")):
            self.add("app.db.storageClass", f"{db.storage_class!r} is not a StorageClass name")
        if db.backup_retention_days < 1:
            self.add("app.db.backupRetentionDays", f"{db.backup_retention_days} must be positive")
        problem = cron_problem(db.backup_schedule)
        if problem:
            self.add("app.db.backupSchedule", f"{db.backup_schedule!r}: {problem}")

    def image(self, path: str, ref: str) -> None:
        problem = image_problem(ref)
        if problem:
            self.add(path, f"{ref!r} {problem}")

    def tags(self) -> None:
        for key, value in self.s.tags.items():
            if key in RESERVED_TAG_KEYS:
                self.add(f"tags.{key}", "is set by Podium itself; choose another key")
            elif not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
                self.add(f"tags.{key}", "a tag key has 1 to 128 characters and must not start with aws:")
            if len(value) > 256:
                self.add(f"tags.{key}", "a tag value has at most 256 characters")
        if len(self.s.tags) > 40:
            self.add(
                "tags", f"{len(self.s.tags)} tags: at most 40 (AWS allows 50 per resource and Podium adds its own)"
            )

    def addon_versions(self) -> None:
        for addon, version in self.s.addon_versions.items():
            if addon not in versions.ADDONS:
                self.add(f"addonVersions.{addon}", f"is not an add-on (known: {', '.join(versions.ADDONS)})")
            elif not _CHART_VERSION.match(str(version)):
                self.add(f"addonVersions.{addon}", f"{version!r} is not a chart version such as 1.2.3 or v1.2.3")
            else:
                # Releases install from vendored packages only.
                for chart in versions.addon_charts(addon, str(version)):
                    if not (versions.PROJECT / chart.package).is_file():
                        self.add(
                            f"addonVersions.{addon}",
                            f"no package {chart.package}: `make charts CHART={addon} VERSION={version}` vendors it",
                        )

    def budget(self) -> None:
        b = self.s.budget
        if "budget" in self.raw and not self.s.on_aws:
            self.add("budget", "is only used with cluster.mode kubeadm (an AWS account)")
            return
        if b.monthly_usd is not None and not (math.isfinite(b.monthly_usd) and b.monthly_usd > 0):
            self.add("budget.monthlyUsd", f"{b.monthly_usd} must be a positive number of US dollars")
        if b.alert_emails and b.monthly_usd is None:
            self.add("budget.alertEmails", "is only used with budget.monthlyUsd")
        if len(b.alert_emails) > MAX_BUDGET_EMAILS:
            self.add(
                "budget.alertEmails",
                f"{len(b.alert_emails)} addresses: an AWS Budgets notification emails at most {MAX_BUDGET_EMAILS}",
            )
        for i, address in enumerate(b.alert_emails):
            if not _EMAIL.match(address):
                self.add(f"budget.alertEmails[{i}]", f"{address!r} is not an email address")
            elif address in b.alert_emails[:i]:
                self.add(f"budget.alertEmails[{i}]", f"{address!r} is listed twice")

    def tenants(self) -> None:
        tenants = self.s.tenants
        if tenants and not self.s.on_aws:
            self.add("tenants", "is only used with cluster.mode kubeadm (its credentials are signed by the cluster CA)")
            return
        pools = {p.name: p for p in self.s.node_pools}
        seen: set[str] = set()
        for i, tenant in enumerate(tenants):
            at = f"tenants[{i}]"
            if not _DNS_LABEL.match(tenant.name) or len(tenant.name) > MAX_TENANT_NAME:
                self.add(f"{at}.name", f"{tenant.name!r} must be a DNS label of at most {MAX_TENANT_NAME} characters")
            elif tenant.name in PLATFORM_NAMESPACES or tenant.name.startswith("kube-"):
                self.add(f"{at}.name", f"{tenant.name!r} is a namespace of the platform's: pick another name")
            elif tenant.name in seen:
                self.add(f"{at}.name", f"{tenant.name!r} is used by another tenant")
            seen.add(tenant.name)
            quota, defaults = tenant.quota, tenant.defaults
            for key, value, pattern in (
                ("quota.cpu", quota.cpu, _CPU),
                ("quota.memory", quota.memory, _MEMORY),
                ("quota.storage", quota.storage, _MEMORY),
                ("defaults.cpuRequest", defaults.cpu_request, _CPU),
                ("defaults.memoryRequest", defaults.memory_request, _MEMORY),
                ("defaults.cpuLimit", defaults.cpu_limit, _CPU),
                ("defaults.memoryLimit", defaults.memory_limit, _MEMORY),
            ):
                if not pattern.match(value) or _is_zero(value):
                    kind = "CPU (500m, 2)" if pattern is _CPU else "memory or storage (256Mi, 4Gi)"
                    self.add(f"{at}.{key}", f"{value!r} is not a positive {kind} quantity")
            if quota.pods < 1:
                self.add(f"{at}.quota.pods", f"{quota.pods} must be at least 1")
            if tenant.credential_generation < 1:
                self.add(f"{at}.credentialGeneration", f"{tenant.credential_generation} must be at least 1")
            cpus = (defaults.cpu_request, defaults.cpu_limit)
            if all(_CPU.match(c) for c in cpus) and cpu_millis(cpus[0]) > cpu_millis(cpus[1]):
                self.add(f"{at}.defaults.cpuRequest", f"{defaults.cpu_request} is above cpuLimit {defaults.cpu_limit}")
            memories = (defaults.memory_request, defaults.memory_limit, quota.memory)
            if all(_MEMORY.match(m) for m in memories):
                request, limit, total = (memory_bytes(m) for m in memories)
                if request > limit:
                    self.add(
                        f"{at}.defaults.memoryRequest",
                        f"{defaults.memory_request} is above memoryLimit {defaults.memory_limit}",
                    )
                if limit > total:
                    self.add(
                        f"{at}.defaults.memoryLimit",
                        f"{defaults.memory_limit} is above the whole quota.memory {quota.memory}: no pod would fit",
                    )
            for j, pool in enumerate(tenant.node_pools):
                if pool not in pools:
                    self.add(f"{at}.nodePools[{j}]", f"{pool!r} is not one of nodePools ({', '.join(sorted(pools))})")
                elif pools[pool].labels.get(POOL_LABEL) != pool:
                    self.add(
                        f"{at}.nodePools[{j}]",
                        f"pool {pool!r} must label its nodes {POOL_LABEL}: {pool} (nodePools[].labels) for its "
                        "tenants' pods to select it",
                    )


def cpu_millis(quantity: str) -> int:
    """A CPU quantity (500m, 2, 1.5) in millicores."""
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


_MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_MEMORY_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def memory_bytes(quantity: str) -> int:
    """A memory quantity (256Mi, 4Gi, 1G) in bytes."""
    digits = re.match(r"[0-9]+", quantity)
    assert digits, quantity
    return int(digits.group()) * _MEMORY_UNITS[quantity[digits.end() :]]


def storage_classes(deletion_protection: bool) -> tuple[str, ...]:
    """The EBS StorageClasses kubeadm mode creates: `gp3` (the default) and, where data
    must outlive its claim, `gp3-retain`."""
    return ("gp3", "gp3-retain") if deletion_protection else ("gp3",)


def _repels(pool: NodePoolSettings) -> bool:
    return any(t.effect in ("NoSchedule", "NoExecute") for t in pool.taints)


def _is_zero(quantity: str) -> bool:
    return float(re.sub(r"[^0-9.]", "", quantity) or 0) == 0
