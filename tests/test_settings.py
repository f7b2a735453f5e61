"""Every settings rule: the program stops before any cloud resource is registered, and
the message names the key path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.config import settings
from tests.conftest import stack_config
from tools import harness

Mutation = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Mutation:
    """Sets `podium:a.b[1].c`-style paths (the first segment is the config key)."""

    def mutate(config: dict[str, Any]) -> None:
        parts = path.replace("[", ".[").split(".")
        target: Any = config
        key: Any = parts[0] if ":" in parts[0] else f"podium:{parts[0]}"
        for part in parts[1:]:
            target = target[key]
            key = int(part[1:-1]) if part.startswith("[") else part
        target[key] = value

    return mutate


def together(*mutations: Mutation) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        for change in mutations:
            change(config)

    return mutate


def remove(path: str) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = config[f"podium:{parents[0]}"] if parents else config
        for part in parents[1:]:
            target = target[part]
        del target[last if parents else f"podium:{last}"]

    return mutate


CASES: list[tuple[str, str, Mutation, str, str]] = [
    # (base stack, test id, mutation, key path in the message, words in the message)
    ("dev", "cidr-syntax", setting("network.cidr", "10.0.0.0/33"), "network.cidr", "not an IPv4 CIDR"),
    ("dev", "cidr-host-bits", setting("network.cidr", "10.0.0.1/16"), "network.cidr", "did you mean 10.0.0.0/16"),
    ("dev", "cidr-too-large", setting("network.cidr", "10.0.0.0/15"), "network.cidr", "between /16 and /24"),
    ("dev", "cidr-too-small", setting("network.cidr", "10.0.0.0/25"), "network.cidr", "between /16 and /24"),
    ("dev", "pod-overlaps-vpc", setting("cluster.podCidr", "10.20.0.0/16"), "cluster.podCidr", "overlaps the VPC"),
    (
        "dev",
        "service-overlaps-vpc",
        setting("cluster.serviceCidr", "10.16.0.0/12"),
        "cluster.serviceCidr",
        "overlaps the VPC",
    ),
    (
        "dev",
        "service-overlaps-pods",
        setting("cluster.serviceCidr", "10.244.0.0/16"),
        "cluster.serviceCidr",
        "overlaps cluster.podCidr",
    ),
    ("dev", "service-too-large", setting("cluster.serviceCidr", "10.96.0.0/11"), "cluster.serviceCidr", "/12 at most"),
    ("dev", "pod-too-small", setting("cluster.podCidr", "10.244.0.0/24"), "cluster.podCidr", "too small"),
    ("dev", "az-count-zero", setting("network.azCount", 0), "network.azCount", "between 1 and 6"),
    ("dev", "az-count-seven", setting("network.azCount", 7), "network.azCount", "between 1 and 6"),
    ("prod", "az-count-ha", setting("network.azCount", 1), "network.azCount", "at least 2 with 3 control planes"),
    ("dev", "control-plane-count", setting("controlPlane.count", 2), "controlPlane.count", "1, 3 or 5"),
    (
        "dev",
        "control-plane-type",
        setting("controlPlane.instanceType", "large"),
        "controlPlane.instanceType",
        "not an EC2 instance type",
    ),
    ("dev", "root-volume", setting("controlPlane.rootVolumeGb", 4), "controlPlane.rootVolumeGb", "at least 8"),
    ("dev", "etcd-volume", setting("controlPlane.etcdVolumeGb", 0), "controlPlane.etcdVolumeGb", "positive"),
    (
        "dev",
        "etcd-snapshot-interval",
        setting("controlPlane.etcdSnapshotIntervalMinutes", 1),
        "controlPlane.etcdSnapshotIntervalMinutes",
        "between 5 and 1440",
    ),
    (
        "dev",
        "etcd-snapshot-retention",
        setting("controlPlane.etcdSnapshotRetentionDays", 0),
        "controlPlane.etcdSnapshotRetentionDays",
        "positive",
    ),
    ("dev", "api-endpoint-kind", setting("cluster.apiEndpoint", "private"), "cluster.apiEndpoint", "public, internal"),
    (
        "dev",
        "internal-endpoint-single-control-plane",
        setting("cluster.apiEndpoint", "internal"),
        "cluster.apiEndpoint",
        "needs controlPlane.count 3 or 5",
    ),
    ("dev", "ami-id", setting("cluster.amiId", "ubuntu-24.04"), "cluster.amiId", "not an AMI id"),
    (
        "dev",
        "graviton-pool",
        setting("nodePools[0].instanceType", "m7g.large"),
        "nodePools[0].instanceType",
        "arm64 (Graviton)",
    ),
    ("dev", "addon-unknown", setting("addonVersions", {"nginx": "1.0.0"}), "addonVersions.nginx", "not an add-on"),
    (
        "dev",
        "addon-version",
        setting("addonVersions", {"traefik": "latest"}),
        "addonVersions.traefik",
        "not a chart version",
    ),
    (
        "dev",
        "storage-class-not-created",
        setting("app.db.storageClass", "gp3-retain"),
        "app.db.storageClass",
        "not a StorageClass Podium creates here (gp3)",
    ),
    (
        "dev",
        "node-name-pattern-on-aws",
        setting("cluster.nodeNamePattern", "^ip-.*$"),
        "cluster.nodeNamePattern",
        "only used with cluster.mode existing",
    ),
    (
        "local",
        "node-name-pattern-regex",
        setting("cluster.nodeNamePattern", "^(kind"),
        "cluster.nodeNamePattern",
        "not a regular expression",
    ),
    ("dev", "pool-root-volume", setting("nodePools[0].rootVolumeGb", 2), "nodePools[0].rootVolumeGb", "at least 8"),
    ("dev", "pool-max-below-min", setting("nodePools[0].max", 0), "nodePools[0].max", "must be at least 1"),
    ("dev", "pool-min-over-max", setting("nodePools[0].min", 5), "nodePools[0].max", "below min 5"),
    ("dev", "pool-desired", setting("nodePools[0].desired", 4), "nodePools[0].desired", "between min 1 and max 3"),
    (
        "dev",
        "zonal-pool-desired",
        setting("nodePools[1].desired", 5),
        "nodePools[1].desired",
        "5 must be between min 1 and 4: a zonal pool has 2 groups (network.azCount), each of max 2",
    ),
    (
        "prod",
        "zonal-pool-desired-below-its-minimum",
        setting("nodePools[1].min", 3),
        "nodePools[1].desired",
        "1 must be between min 3 and 6: a zonal pool has 3 groups (network.azCount), each of max 2",
    ),
    (
        "dev",
        "first-az-slot-outside-the-network",
        setting("nodePools[1].firstAzSlot", 2),
        "nodePools[1].firstAzSlot",
        "2 must be an AZ slot from 0 to 1 (network.azCount)",
    ),
    (
        "dev",
        "first-az-slot-without-zonal",
        setting("nodePools[0].firstAzSlot", 1),
        "nodePools[0].firstAzSlot",
        "only places the groups of a zonal pool: set zonal: true, or remove it",
    ),
    (
        "dev",
        "more-tags-than-a-group-may-carry",
        setting("nodePools[0].labels", {f"podium.example.com/l{i}": "x" for i in range(43)}),
        "nodePools[0].labels",
        "43 labels and 0 taints: with the 2 tags and Podium's own, its groups would carry 53 tags",
    ),
    (
        "dev",
        "database-pool-not-zonal",
        setting("nodePools[1].zonal", False),
        "nodePools[1].zonal",
        "pool 'db' holds the database (app.db.nodePool), whose EBS volume stays in one AZ: set zonal: true",
    ),
    (
        "dev",
        "label-too-long-for-the-autoscalers-node-template",
        setting("nodePools[0].labels", {f"{'a' * 60}.example.com/{'b' * 20}": "x"}),
        f"nodePools[0].labels.{'a' * 60}.example.com/{'b' * 20}",
        "is 93 characters; as an autoscaler node-template tag it may have 82",
    ),
    (
        "dev",
        "taint-too-long-for-the-autoscalers-node-template",
        setting("nodePools[1].taints[0].key", f"{'a' * 60}.example.com/{'b' * 20}"),
        "nodePools[1].taints[0].key",
        "is 93 characters; as an autoscaler node-template tag it may have 82",
    ),
    ("dev", "pool-negative-min", setting("nodePools[0].min", -1), "nodePools[0].min", "must not be negative"),
    ("dev", "pool-name", setting("nodePools[0].name", "General_Pool"), "nodePools[0].name", "DNS label"),
    (
        "dev",
        "pool-name-duplicate",
        setting("nodePools[1].name", "general"),
        "nodePools[1].name",
        "used by another pool",
    ),
    (
        "dev",
        "taint-effect",
        setting("nodePools[1].taints[0].effect", "NoExec"),
        "nodePools[1].taints[0].effect",
        "NoSchedule, PreferNoSchedule, NoExecute",
    ),
    (
        "dev",
        "taint-key",
        setting("nodePools[1].taints[0].key", "bad key"),
        "nodePools[1].taints[0].key",
        "qualified name",
    ),
    (
        "dev",
        "label-restricted",
        setting("nodePools[0].labels", {"node-role.kubernetes.io/worker": ""}),
        "nodePools[0].labels.node-role.kubernetes.io/worker",
        "kubelet may not set",
    ),
    (
        "dev",
        "all-pools-tainted",
        setting("nodePools[0].taints", [{"key": "a", "effect": "NoSchedule"}]),
        "nodePools",
        "one untainted pool",
    ),
    (
        "dev",
        "untainted-pools-start-empty",
        setting("nodePools[0]", {"name": "general", "instanceType": "t3.large", "min": 0, "max": 3, "desired": 0}),
        "nodePools",
        "no untainted pool starts with a node (desired >= 1)",
    ),
    ("dev", "db-pool-unknown", setting("app.db.nodePool", "memory"), "app.db.nodePool", "not one of nodePools"),
    ("dev", "nat-mode", setting("network.natMode", "double"), "network.natMode", "none, single, perAz"),
    (
        "dev",
        "nat-instance-type-x86",
        setting("network.natInstanceType", "t3.nano"),
        "network.natInstanceType",
        "must be a Graviton (arm64) instance type",
    ),
    (
        "staging",
        "nat-endpoint-without-nat-instance",
        setting("cluster.apiEndpoint", "natInstance"),
        "cluster.apiEndpoint",
        "needs controlPlane.count 1 (is 3) and network.natMode instance (is single)",
    ),
    (
        "dev",
        "nat-endpoint-with-gateways",
        setting("network.natMode", "single"),
        "cluster.apiEndpoint",
        "network.natMode instance (is single)",
    ),
    ("dev", "zonal-min-above-groups", setting("nodePools[1].min", 5), "nodePools[1].min", "above max 2 x 2 groups"),
    (
        "dev",
        "zonal-desired-below-min",
        setting("nodePools[1].desired", 0),
        "nodePools[1].desired",
        "between min 1 and 4",
    ),
    ("dev", "cluster-mode", setting("cluster.mode", "eks"), "cluster.mode", "kubeadm, existing"),
    ("dev", "tenant-name", setting("tenants[0].name", "Team_A"), "tenants[0].name", "must be a DNS label"),
    (
        "dev",
        "tenant-platform-namespace",
        setting("tenants[0].name", "monitoring"),
        "tenants[0].name",
        "'monitoring' is a namespace of the platform's",
    ),
    (
        "dev",
        "tenant-kube-prefix",
        setting("tenants[0].name", "kube-team"),
        "tenants[0].name",
        "is a namespace of the platform's",
    ),
    (
        "dev",
        "tenant-twice",
        setting("tenants", [{"name": "team-a"}, {"name": "team-a"}]),
        "tenants[1].name",
        "'team-a' is used by another tenant",
    ),
    ("dev", "tenant-quota-cpu", setting("tenants[0].quota.cpu", "two"), "tenants[0].quota.cpu", "not a positive CPU"),
    (
        "dev",
        "tenant-quota-storage",
        setting("tenants[0].quota.storage", "5 GB"),
        "tenants[0].quota.storage",
        "is not a positive memory or storage (256Mi, 4Gi) quantity",
    ),
    ("dev", "tenant-quota-pods", setting("tenants[0].quota.pods", 0), "tenants[0].quota.pods", "at least 1"),
    (
        "dev",
        "tenant-default-over-quota",
        setting("tenants[0].defaults", {"memoryLimit": "4Gi"}),
        "tenants[0].defaults.memoryLimit",
        "4Gi is above the whole quota.memory 2Gi",
    ),
    (
        "dev",
        "tenant-request-over-limit",
        setting("tenants[0].defaults", {"cpuRequest": "1", "cpuLimit": "500m"}),
        "tenants[0].defaults.cpuRequest",
        "1 is above cpuLimit 500m",
    ),
    (
        "dev",
        "tenant-unknown-pool",
        setting("tenants[0].nodePools", ["gpu"]),
        "tenants[0].nodePools[0]",
        "'gpu' is not one of nodePools (db, general)",
    ),
    (
        "dev",
        "tenant-pool-unlabelled",
        together(setting("tenants[0].nodePools", ["general"]), setting("nodePools[0].labels", {})),
        "tenants[0].nodePools[0]",
        "must label its nodes podium/pool: general",
    ),
    (
        "dev",
        "tenant-generation",
        setting("tenants[0].credentialGeneration", 0),
        "tenants[0].credentialGeneration",
        "at least 1",
    ),
    (
        "local",
        "tenants-off-aws",
        setting("podium:tenants", [{"name": "team-a"}]),
        "tenants",
        "only used with cluster.mode kubeadm",
    ),
    ("dev", "version-format", setting("kubernetesVersion", "1.35"), "kubernetesVersion", "1.MINOR.PATCH"),
    ("dev", "version-minor", setting("kubernetesVersion", "1.29.4"), "kubernetesVersion", "not supported"),
    (
        "dev",
        "version-unknown-patch",
        setting("kubernetesVersion", "1.35.99"),
        "kubernetesVersion",
        "newer than the newest checked",
    ),
    (
        "dev",
        "image-latest",
        setting("app.frontend.image", "docker.io/nginxinc/nginx-unprivileged:latest"),
        "app.frontend.image",
        "must not use the `latest` tag",
    ),
    (
        "dev",
        "image-untagged",
        setting("app.api.image", "ghcr.io/stefanprodan/podinfo"),
        "app.api.image",
        "needs a tag or a digest",
    ),
    (
        "dev",
        "image-registry-port-untagged",
        setting("app.api.image", "registry.local:5000/podinfo"),
        "app.api.image",
        "needs a tag or a digest",
    ),
    (
        "dev",
        "image-bad-digest",
        setting("app.db.image", "mongo@sha256:abc"),
        "app.db.image",
        "not sha256:<64 hex digits>",
    ),
    ("dev", "replicas", setting("app.api.maxReplicas", 0), "app.api.maxReplicas", "below minReplicas"),
    ("dev", "min-replicas", setting("app.frontend.minReplicas", 0), "app.frontend.minReplicas", "at least 1"),
    ("dev", "cpu", setting("app.api.cpu", "lots"), "app.api.cpu", "CPU quantity"),
    ("dev", "memory-zero", setting("app.api.memory", "0Mi"), "app.api.memory", "memory quantity"),
    ("dev", "target-percent", setting("app.api.targetCpuPercent", 0), "app.api.targetCpuPercent", "between 1 and 100"),
    ("dev", "storage", setting("app.db.storageGb", 0), "app.db.storageGb", "positive"),
    (
        "dev",
        "cron",
        setting("app.db.backupSchedule", "0 25 * * *"),
        "app.db.backupSchedule",
        "hour '25' is outside 0-23",
    ),
    ("dev", "hostname", setting("app.hostname", "Podium_App"), "app.hostname", "DNS name"),
    (
        "prod",
        "world-open-api-protected",
        setting("cluster.apiAllowedCidrs", ["0.0.0.0/0"]),
        "cluster.apiAllowedCidrs[0]",
        "refused with deletionProtection on",
    ),
    (
        "dev",
        "api-cidrs-required",
        setting("cluster.apiAllowedCidrs", []),
        "cluster.apiAllowedCidrs",
        "required in kubeadm mode",
    ),
    (
        "dev",
        "retention",
        setting("network.flowLogsRetentionDays", 10),
        "network.flowLogsRetentionDays",
        "not a CloudWatch Logs retention period",
    ),
    ("dev", "unknown-top-level-key", setting("podium:replicas", 3), "replicas", "unknown key"),
    (
        "dev",
        "unknown-nested-key",
        setting("network.cidrBlock", "10.0.0.0/16"),
        "network.cidrBlock",
        "unknown key (known keys here: azCount, cidr",
    ),
    ("dev", "unknown-pool-key", setting("nodePools[0].size", 3), "nodePools[0].size", "unknown key"),
    ("dev", "wrong-type", setting("network.azCount", "2"), "network.azCount", "must be an integer"),
    ("dev", "wrong-type-bool", setting("deletionProtection", "maybe"), "deletionProtection", "must be true or false"),
    ("dev", "required-key", remove("app.hostname"), "app.hostname", "is required"),
    ("dev", "tag-reserved", setting("tags", {"environment": "x"}), "tags.environment", "set by Podium itself"),
    ("dev", "tag-aws-prefix", setting("tags", {"aws:owner": "x"}), "tags.aws:owner", "must not start with aws:"),
    ("local", "existing-needs-context", remove("cluster.context"), "cluster.context", "required in existing mode"),
    (
        "local",
        "existing-no-network",
        setting("podium:network", {"cidr": "10.0.0.0/16"}),
        "network",
        "only used with cluster.mode kubeadm",
    ),
    (
        "dev",
        "kubeadm-no-context",
        setting("cluster.context", "kind-podium"),
        "cluster.context",
        "only used with cluster.mode existing",
    ),
    ("dev", "budget-zero", setting("budget", {"monthlyUsd": 0}), "budget.monthlyUsd", "must be a positive number"),
    ("dev", "budget-negative", setting("budget", {"monthlyUsd": -50.5}), "budget.monthlyUsd", "positive number"),
    ("dev", "budget-text", setting("budget", {"monthlyUsd": "120"}), "budget.monthlyUsd", "must be a number"),
    ("dev", "budget-boolean", setting("budget", {"monthlyUsd": True}), "budget.monthlyUsd", "must be a number"),
    ("dev", "budget-unknown-key", setting("budget", {"monthlyUSD": 120}), "budget.monthlyUSD", "unknown key"),
    (
        "dev",
        "budget-email",
        setting("budget", {"monthlyUsd": 120, "alertEmails": ["platform"]}),
        "budget.alertEmails[0]",
        "not an email address",
    ),
    (
        "dev",
        "budget-email-twice",
        setting("budget", {"monthlyUsd": 120, "alertEmails": ["a@example.com", "a@example.com"]}),
        "budget.alertEmails[1]",
        "listed twice",
    ),
    (
        "dev",
        "budget-emails-too-many",
        setting("budget", {"monthlyUsd": 120, "alertEmails": [f"p{i}@example.com" for i in range(11)]}),
        "budget.alertEmails",
        "emails at most 10",
    ),
    (
        "dev",
        "budget-emails-without-limit",
        setting("budget", {"alertEmails": ["a@example.com"]}),
        "budget.alertEmails",
        "only used with budget.monthlyUsd",
    ),
    (
        "local",
        "budget-existing-mode",
        setting("budget", {"monthlyUsd": 120}),
        "budget",
        "only used with cluster.mode kubeadm",
    ),
]


@pytest.mark.parametrize(
    ("stack", "mutate", "path", "words"), [c[:1] + c[2:] for c in CASES], ids=[c[1] for c in CASES]
)
def test_invalid_setting_stops_before_any_resource(stack: str, mutate: Mutation, path: str, words: str) -> None:
    config = stack_config(stack)
    mutate(config)
    with pytest.raises(harness.ProgramError) as caught:
        harness.run(stack, config)
    message = str(caught.value)
    expected = path if path.startswith("aws:") else f"podium:{path}:"
    assert expected in message
    line = next(line for line in message.splitlines() if expected in line)
    assert words in line
    assert caught.value.graph.resources == [], "nothing may be registered, not even the provider"


def test_missing_region_names_the_aws_key() -> None:
    config = stack_config("dev")
    del config["aws:region"]
    with pytest.raises(harness.ProgramError, match=r"aws:region: is required in kubeadm mode"):
        harness.run("dev", config)


def test_all_problems_are_reported_together() -> None:
    config = stack_config("dev")
    config["podium:network"]["cidr"] = "10.0.0.0/33"
    config["podium:nodePools"][0]["max"] = 0
    config["podium:app"]["frontend"]["image"] = "nginx:latest"
    config["podium:network"]["azCount"] = "two"
    with pytest.raises(settings.SettingsError) as caught:
        settings.from_config(
            {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("podium:")},
            project="podium",
            stack="dev",
            aws_region="us-east-1",
        )
    paths = {p.split(": ", 1)[0] for p in caught.value.problems}
    assert paths == {
        "podium:network.azCount",
        "podium:network.cidr",
        "podium:nodePools[0].max",  # below min, and below 1: two lines
        "podium:app.frontend.image",
    }
    assert "(5 problems)" in str(caught.value)


def minimal_settings(**app: object) -> settings.Settings:
    """A stack that sets only what has no default."""
    return settings.from_config(
        {"app": {"hostname": "a.example.com", **app}, "cluster": {"apiAllowedCidrs": ["192.0.2.0/24"]}},
        project="podium",
        stack="qa",
        aws_region="eu-west-1",
    )


def test_defaults_fill_what_a_stack_leaves_out() -> None:
    parsed = minimal_settings(api={"minReplicas": 3})
    assert parsed.app.api.min_replicas == 3
    assert parsed.app.api.image.startswith("ghcr.io/stefanprodan/podinfo:")  # the api's own default
    assert parsed.app.frontend.image.startswith("docker.io/nginxinc/nginx-unprivileged:")
    assert parsed.deletion_protection is True
    assert parsed.cluster_name == "podium-qa"
    assert [p.name for p in parsed.node_pools] == ["general"]


def test_config_values_arrive_as_the_engine_sends_them() -> None:
    """Scalars come as strings, objects as JSON; an integer-looking string for a string
    key (a hostname label) must stay a string."""
    assert settings._decode('{"a": 1}') == {"a": 1}
    assert settings._decode("false") is False
    assert settings._decode("1.35.8") == "1.35.8"


def test_settings_are_frozen() -> None:
    parsed = minimal_settings()
    with pytest.raises(AttributeError):
        parsed.network.cidr = "10.1.0.0/16"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("docker.io/library/mongo:8.0.29", True),
        ("registry.local:5000/team/app:1.2", True),
        ("ghcr.io/x/y@sha256:" + "a" * 64, True),
        ("ghcr.io/x/y:1.0@sha256:" + "b" * 64, True),
        ("registry.local:5000/team/app", False),
        ("app:latest", False),
        ("app", False),
        ("", False),
    ],
)
def test_image_references(ref: str, ok: bool) -> None:
    assert (settings.image_problem(ref) is None) is ok


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("17 3 * * *", True),
        ("*/15 0-6,22-23 1 1-12/2 0,7", True),
        ("@daily", True),
        ("@fortnightly", False),
        ("* * * *", False),
        ("60 * * * *", False),
        ("* * 0 * *", False),
        ("*/0 * * * *", False),
        ("a * * * *", False),
    ],
)
def test_cron_schedules(schedule: str, ok: bool) -> None:
    assert (settings.cron_problem(schedule) is None) is ok
