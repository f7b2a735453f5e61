"""Readiness gates: during `pulumi up`, hold what comes after them until the cluster
really has reached a stage, asking the API server as the cluster admin (the admin
client certificate, the server verified against the cluster CA).

- Stage `control-plane` (ApiReadiness under ClusterBootstrap, before the Kubernetes
  provider is used): `/readyz` is `ok`; what `kubeadm init` uploads (the
  `kubeadm-config` ConfigMap) and creates in its last phase (the `kube-proxy`
  DaemonSet) exists, readable by the admin; and every control plane, by name, has
  registered its Node.
- Stage `workers` (under ClusterAddons, after Calico and the cloud controller, before
  every release whose pods need a worker): at least one Node is Ready, schedulable,
  not a control plane and without NoSchedule/NoExecute taints (so the cloud
  controller has initialised it).

A failure names what is still missing and where to look (`hint`: instance ids, groups
and the bootstrap log). Pulumi dynamic resources: the provider runs only when the
resource is created or updated during `pulumi up`; `pulumi preview` never calls it.

Pulumi stores the provider in the state pickled with a reference to this module, and
its plugin process (`python -m pulumi.dynamic`, started in the project directory)
imports the module to run it. So this module only defines things: importing it needs
neither the Pulumi engine nor the program's config.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import dynamic

STAGES = ("control-plane", "workers")
BOOTSTRAP_LOG = "/var/log/podium-bootstrap.log"
# First boot of a control plane: apt update and the Kubernetes packages (~1.5 min),
# containerd, runc and CNI downloads (~15 s), the AWS CLI snap (~1 min), image pulls
# and `kubeadm init` (~2 min): about 5 minutes on a t3.medium; further members join
# after it (up to ~3 more). Four times the usual.
CONTROL_PLANE_TIMEOUT_SECONDS = 20 * 60
# Workers boot alongside the control planes and join once the API answers; after that
# a node needs calico-node running (an image pull, ~1 min) and the cloud controller's
# initialisation (seconds). Well over twice the usual, after Calico's release.
WORKERS_TIMEOUT_SECONDS = 15 * 60
POLL_SECONDS = 10.0

Answer = tuple[int, str]  # HTTP status (0: no HTTP answer), body or error


class _ReadinessProvider(dynamic.ResourceProvider):
    KUBEADM_CONFIG = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
    KUBE_PROXY = "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
    CONTROL_PLANE_NODES = "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane"
    NODES = "/api/v1/nodes"
    CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"

    @staticmethod
    def client(endpoint: str, ca_pem: str, cert_pem: str, key_pem: str) -> Callable[[str], Answer]:
        """GET as the cluster admin. The key touches the disk only for the moment
        `load_cert_chain` reads it, in a private temporary directory."""

        context = ssl.create_default_context(cadata=ca_pem)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "admin.pem")
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(cert_pem.strip() + "\n" + key_pem.strip() + "\n")
            context.load_cert_chain(path)

        def get(path: str) -> Answer:
            try:
                with urllib.request.urlopen(endpoint.rstrip("/") + path, context=context, timeout=10) as response:
                    return response.status, response.read().decode(errors="replace")
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode(errors="replace")
            except (urllib.error.URLError, OSError) as error:
                return 0, str(getattr(error, "reason", error))

        return get

    @staticmethod
    def refused(status: int, body: str, what: str) -> str | None:
        if status == 0:
            return f"no answer from the API server ({body})"
        if status == 401:
            return "the API server does not accept the admin certificate (HTTP 401): another cluster CA?"
        if status == 403:
            return f"the admin certificate may not read {what} (HTTP 403): kubeadm has not bound kubeadm:cluster-admins yet"
        return None

    @classmethod
    def control_plane_problems(cls, get: Callable[[str], Answer], members: list[str]) -> list[str]:
        """`members`: the Node names every control plane registers (EC2 private DNS
        names); empty: any one. Names, not a count: while a replaced member's old Node
        is still registered, a count would pass before the new one has joined."""

        status, body = get("/readyz")
        if (status, body.strip()) != (200, "ok"):
            return [cls.refused(status, body, "/readyz") or f"/readyz answers HTTP {status}: {body.strip()[:200]}"]
        problems: list[str] = []
        for path, what in (
            (cls.KUBEADM_CONFIG, "the kubeadm-config ConfigMap (kubeadm init's upload-config phase)"),
            (cls.KUBE_PROXY, "the kube-proxy DaemonSet (kubeadm init's last phase, addon/kube-proxy)"),
        ):
            status, body = get(path)
            if status != 200:
                problems.append(cls.refused(status, body, what) or f"{what} not created yet (HTTP {status})")
        status, body = get(cls.CONTROL_PLANE_NODES)
        registered = cls.node_names(status, body)
        if registered is None:
            problems.append(cls.refused(status, body, "Nodes") or f"cannot list Nodes (HTTP {status}: {body[:100]})")
        elif missing := [name for name in members if name not in registered] or (not registered and ["any"]):
            listed = ", ".join(sorted(registered)) or "none"
            problems.append(f"control planes not registered yet: {', '.join(missing)} (registered: {listed})")
        return problems

    @staticmethod
    def node_names(status: int, body: str) -> set[str] | None:
        """The names in a NodeList answer; None when it is no NodeList (yet)."""
        if status != 200:
            return None
        try:
            return {item["metadata"]["name"] for item in json.loads(body)["items"]}
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def unschedulable_because(cls, node: dict[str, Any]) -> str | None:
        """Why pods of a release without tolerations could not run on this node."""
        labels = node.get("metadata", {}).get("labels") or {}
        spec, status = node.get("spec") or {}, node.get("status") or {}
        if cls.CONTROL_PLANE_LABEL in labels:
            return "a control plane"
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            reason = ready[0].get("reason", "no reason given") if ready else "no Ready condition"
            return f"not Ready ({reason})"
        if spec.get("unschedulable"):
            return "cordoned"
        taints = [t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        if taints:
            return "tainted " + ", ".join(f"{t['key']}:{t['effect']}" for t in taints)
        return None

    @classmethod
    def worker_problems(cls, get: Callable[[str], Answer]) -> list[str]:

        status, body = get(cls.NODES)
        if cls.node_names(status, body) is None:
            return [cls.refused(status, body, "Nodes") or f"cannot list Nodes (HTTP {status}: {body[:100]})"]
        reasons = {item["metadata"]["name"]: cls.unschedulable_because(item) for item in json.loads(body)["items"]}
        if any(reason is None for reason in reasons.values()):
            return []
        workers = {name: reason for name, reason in reasons.items() if reason != "a control plane"}
        if not workers:
            return ["no worker has registered yet"]
        listed = "; ".join(f"{name}: {reason}" for name, reason in sorted(workers.items()))
        return [f"no Ready, untainted worker yet ({listed})"]

    @classmethod
    def wait(cls, props: dict[str, Any], poll_seconds: float = POLL_SECONDS) -> None:
        """Polls the stage's checks until they pass; at the deadline raises
        RuntimeError with what was still missing and the hint."""

        get = cls.client(props["endpoint"], props["caPem"], props["clientCertPem"], props["clientKeyPem"])
        stage, timeout = props["stage"], float(props["timeoutSeconds"])
        deadline = time.monotonic() + timeout
        while True:
            if stage == "control-plane":
                problems = cls.control_plane_problems(get, list(props["nodeNames"]))
            else:
                problems = cls.worker_problems(get)
            if not problems:
                return
            if time.monotonic() + poll_seconds > deadline:
                raise RuntimeError(
                    f"the cluster at {props['endpoint']} did not reach stage '{stage}' within {timeout:.0f} s; "
                    f"still missing: {'; '.join(problems)}. {props['hint']}"
                )
            time.sleep(poll_seconds)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        self.wait(props)
        return dynamic.CreateResult(id_=f"{props['stage']}@{props['endpoint']}", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        self.wait(news)
        return dynamic.UpdateResult(outs=news)


def _gate_props(
    stage: str,
    *,
    endpoint: Any,
    ca_pem: Any,
    client_cert_pem: Any,
    client_key_pem: Any,
    node_names: Any,
    timeout_seconds: float,
    hint: Any,
) -> dict[str, Any]:
    """The provider's inputs: one shape for a gate in the program and a direct call."""
    return {
        "endpoint": endpoint,
        "caPem": ca_pem,
        "clientCertPem": client_cert_pem,
        "clientKeyPem": client_key_pem,
        "stage": stage,
        # Inputs, so that a replaced member behind the same endpoint is waited for again.
        "nodeNames": node_names or [],
        "timeoutSeconds": timeout_seconds,
        "hint": hint,
    }


def wait_for(
    stage: str,
    *,
    endpoint: str,
    ca_pem: str,
    client_cert_pem: str,
    client_key_pem: str,
    timeout_seconds: float,
    node_names: list[str] | None = None,
    hint: str = f"Read {BOOTSTRAP_LOG} on the nodes.",
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """What a gate does, callable directly (tools/integration.py checks a finished `up`)."""
    props = _gate_props(
        stage,
        endpoint=endpoint,
        ca_pem=ca_pem,
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        node_names=node_names,
        timeout_seconds=timeout_seconds,
        hint=hint,
    )
    _ReadinessProvider.wait(props, poll_seconds)


@dataclass(frozen=True)
class AdminAccess:
    """How a gate reaches the API server: as the cluster admin."""

    endpoint: pulumi.Input[str]  # https://host:6443
    ca_pem: pulumi.Input[str]
    client_cert_pem: pulumi.Input[str]
    client_key_pem: pulumi.Input[str]  # secret


class ApiReadiness(dynamic.Resource):
    endpoint: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        access: AdminAccess,
        *,
        stage: str,
        hint: pulumi.Input[str],
        node_names: pulumi.Input[list[str]] | None = None,
        instance_ids: pulumi.Input[list[str]] | None = None,
        timeout_seconds: int | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
        if stage == "control-plane" and node_names is None:
            raise ValueError("the control-plane stage needs the control planes' node names")
        default = CONTROL_PLANE_TIMEOUT_SECONDS if stage == "control-plane" else WORKERS_TIMEOUT_SECONDS
        props = _gate_props(
            stage,
            endpoint=access.endpoint,
            ca_pem=access.ca_pem,
            client_cert_pem=access.client_cert_pem,
            client_key_pem=pulumi.Output.secret(access.client_key_pem),
            node_names=node_names,
            timeout_seconds=timeout_seconds or default,
            hint=hint,
        )
        super().__init__(
            _ReadinessProvider(),
            name,
            {**props, "instanceIds": instance_ids or []},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["clientKeyPem"])),
        )


def instances_hint(instance_ids: list[str]) -> str:
    """Where to look when the control planes are not ready."""
    listed = ", ".join(instance_ids)
    return (
        f"Read {BOOTSTRAP_LOG} on the control planes ({listed}): `aws ssm start-session --target <id>`, or "
        f"`aws ec2 get-console-output --latest --instance-id <id>`. Also check that this machine's address is "
        "in podium:cluster.apiAllowedCidrs."
    )


def groups_hint(group_names: list[str]) -> str:
    """Where to look when no worker becomes ready."""
    listed = ", ".join(group_names)
    return (
        f"Read {BOOTSTRAP_LOG} on an instance of the worker groups ({listed}): "
        "`aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names <group>` lists them; "
        "a worker whose bootstrap failed marks itself unhealthy, so the group's activity history shows it."
    )
