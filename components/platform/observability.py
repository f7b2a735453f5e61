"""Observability: metrics, alerts and dashboards (kube-prometheus-stack, its CRDs applied
server-side from prometheus-operator-crds first), Podium's alert rules and dashboard,
and log shipping (Fluent Bit) to a CloudWatch Logs group per cluster.

The values and rules are pure functions (monitoring.py, logs.py); this component
creates the namespaces, Secrets, releases and, on AWS, the log group and the role Fluent
Bit assumes with its service account's token. Grafana's admin password is a
RandomPassword in the `grafana-admin` Secret (docs/operations.md: reading it, and
reaching Grafana with `kubectl port-forward`); nothing is exposed outside the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.cluster import iam_policies
from components.config import versions
from components.platform import logs, monitoring
from components.platform.addons import custom_resource, helm_release, pod_security_namespace
from components.shared.workload_role import Issuer, account_scoped_role


@dataclass(frozen=True)
class CloudWatchLogs:
    """kubeadm mode: where the logs go, and what the role trusts."""

    region: str
    issuer: Issuer
    kms_key_arn: pulumi.Input[str]
    retention_days: int
    protect: bool


@dataclass(frozen=True)
class ObservabilityArgs:
    cluster_name: str
    metrics: monitoring.MetricsParams
    alerts: monitoring.AlertParams
    logs: str  # cloudwatch | stdout | off
    cloudwatch: CloudWatchLogs | None  # with logs cloudwatch
    alert_webhook_url: pulumi.Input[str] | None  # secret
    protect: bool  # deletionProtection: the CRDs (deleting one deletes every object of its kind)
    depends_on: Sequence[pulumi.Resource] = ()


class Observability(pulumi.ComponentResource):
    scraper_namespace: str
    ready: list[pulumi.Resource]  # what ServiceMonitors and PrometheusRules wait for

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:observability:Observability", name, None, opts)
        self._name = name
        after = list(args.depends_on)
        namespace = self._namespace(monitoring.NAMESPACE, "baseline", after)
        host_namespace = self._namespace(monitoring.NODE_EXPORTER_NAMESPACE, "privileged", after)
        crds_chart = versions.pinned_chart("prometheusOperatorCrds")
        # Applied server-side by the provider (several CRDs exceed client-side apply's
        # 256 KiB annotation); a CRD upgrade is this chart's version, an explicit step.
        crds = k8s.helm.v4.Chart(
            f"{name}-prometheus-operator-crds",
            chart=crds_chart.package,
            namespace=monitoring.NAMESPACE,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after, protect=args.protect),
        )
        admin = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=self._child())
        secrets = [
            self._secret(
                monitoring.GRAFANA_ADMIN_SECRET,
                {"admin-user": pulumi.Output.secret("admin"), "admin-password": pulumi.Output.secret(admin.result)},
                namespace,
            )
        ]
        if args.alert_webhook_url is not None:
            secrets.append(
                self._secret(
                    monitoring.ALERT_WEBHOOK_SECRET,
                    {monitoring.ALERT_WEBHOOK_KEY: pulumi.Output.secret(args.alert_webhook_url)},
                    namespace,
                )
            )
        else:
            pulumi.log.warn(
                "podium:alertWebhookUrl is not set: alerts show in Alertmanager and Grafana, and nobody is paged",
                resource=self,
            )
        stack = helm_release(
            f"{name}-{monitoring.RELEASE}",
            versions.pinned_chart("kubePrometheusStack"),
            monitoring.NAMESPACE,
            monitoring.stack_values(args.metrics),
            pulumi.ResourceOptions(parent=self, depends_on=[crds, namespace, host_namespace, *secrets]),
        )
        self.ready = [crds, stack]
        self.scraper_namespace = monitoring.NAMESPACE
        custom_resource(
            f"{name}-podium-rules",
            monitoring.prometheus_rule("podium", monitoring.alert_groups(args.alerts)),
            pulumi.ResourceOptions(parent=self, depends_on=self.ready),
        )
        board = monitoring.dashboard(args.alerts)
        k8s.core.v1.ConfigMap(
            f"{name}-podium-dashboard",
            metadata={
                "name": "podium-dashboard",
                "namespace": monitoring.NAMESPACE,
                "labels": monitoring.DASHBOARD_LABEL,
            },
            data={"podium.json": json.dumps(board, indent=1, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        log_group = self._logs(args) if args.logs != "off" else None
        self.register_outputs({"logGroup": log_group, "monitoringNamespace": monitoring.NAMESPACE})

    def _logs(self, args: ObservabilityArgs) -> pulumi.Output[str] | None:
        name = self._name
        target: logs.CloudWatchTarget | None = None
        group_name: pulumi.Output[str] | None = None
        if args.logs == "cloudwatch":
            assert args.cloudwatch is not None, "cloudwatch logs need kubeadm mode's CloudWatchLogs"
            cloudwatch = args.cloudwatch
            group = aws.cloudwatch.LogGroup(
                f"{name}-logs",
                name=logs.log_group_name(args.cluster_name),
                retention_in_days=cloudwatch.retention_days,
                kms_key_id=cloudwatch.kms_key_arn,
                opts=self._child(protect=cloudwatch.protect),
            )
            role = account_scoped_role(
                f"{name}-fluent-bit",
                issuer=cloudwatch.issuer,
                namespace=logs.NAMESPACE,
                service_account=logs.SERVICE_ACCOUNT,
                description=f"{args.cluster_name} Fluent Bit: log events into {logs.log_group_name(args.cluster_name)}",
                policy=lambda partition, account: iam_policies.log_shipping_policy(
                    partition=partition,
                    region=cloudwatch.region,
                    account_id=account,
                    log_group=logs.log_group_name(args.cluster_name),
                ),
                parent=self,
            )
            target = logs.CloudWatchTarget(cloudwatch.region, logs.log_group_name(args.cluster_name), role.arn)
            group_name = group.name
            depends: list[pulumi.Resource] = [group, role]
        else:
            depends = []
        namespace = self._namespace(logs.NAMESPACE, "privileged", [*args.depends_on, *self.ready])
        helm_release(
            f"{name}-fluent-bit",
            versions.pinned_chart("fluentBit"),
            logs.NAMESPACE,
            logs.fluent_bit_values(target),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, *depends]),
        )
        return group_name

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _namespace(self, name: str, level: str, depends_on: Sequence[pulumi.Resource]) -> k8s.core.v1.Namespace:
        return pod_security_namespace(f"{self._name}-{name}", name, level, self._child(depends_on=list(depends_on)))

    def _secret(
        self, secret_name: str, data: dict[str, pulumi.Input[str]], namespace: pulumi.Resource
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-{secret_name}",
            metadata={"name": secret_name, "namespace": monitoring.NAMESPACE},
            type="Opaque",
            string_data=data,
            opts=self._child(depends_on=[namespace]),
        )
