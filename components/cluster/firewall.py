"""The cluster's security groups: control planes, nodes and the API load balancers
(internal for nodes; internet-facing, for `apiAllowedCidrs` only, when the endpoint
is public). No SSH anywhere (Session Manager instead); etcd only between control
planes; the kubelet only from inside the cluster; the control planes' metrics ports
only from the nodes (where Prometheus runs); NodePorts only from the VPC (the
cloud controller opens a Service's own ports for its load balancer)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import kubeadm
from components.shared.children import Children

ANYWHERE = "0.0.0.0/0"
# Pod traffic between nodes: Calico in VXLAN mode (UDP 4789) and its Typha fan-out
# (TCP 5473); the kubelet API (TCP 10250) for the API server and metrics-server.
KUBELET_PORT = 10250
POD_NETWORK_PORTS = (("udp", 4789, 4789), ("tcp", 5473, 5473))
NODE_PORTS = (30000, 32767)
NODE_EXPORTER_PORT = 9100  # host network, every node
# What Prometheus (on the workers) scrapes on a control plane, besides the kubelet:
# etcd's metrics, the controller manager, the scheduler, kube-proxy, node-exporter.
CONTROL_PLANE_METRICS_PORTS = (
    kubeadm.ETCD_METRICS_PORT,
    kubeadm.CONTROLLER_MANAGER_PORT,
    kubeadm.SCHEDULER_PORT,
    kubeadm.KUBE_PROXY_METRICS_PORT,
    NODE_EXPORTER_PORT,
)


@dataclass(frozen=True)
class FirewallArgs:
    cluster_name: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    api_allowed_cidrs: tuple[str, ...]
    api_endpoint: str  # public | internal | natInstance
    node_tags: dict[str, str]  # the cluster tag: the cloud controller edits the one tagged group


@dataclass(frozen=True)
class SecurityGroups:
    control_plane: aws.ec2.SecurityGroup
    node: aws.ec2.SecurityGroup
    load_balancers: dict[str, aws.ec2.SecurityGroup]  # api_internal, and api_public if public; none for natInstance


def security_groups(scope: Children, args: FirewallArgs) -> SecurityGroups:
    cluster = args.cluster_name

    def group(suffix: str, description: str, tags: dict[str, str]) -> aws.ec2.SecurityGroup:
        sg = aws.ec2.SecurityGroup(
            f"{scope.name}-{suffix}",
            vpc_id=args.vpc_id,
            description=description,
            tags={"Name": f"{cluster}-{suffix}", **tags},
            opts=scope.child(),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{scope.name}-{suffix}-egress",
            security_group_id=sg.id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE,
            description="packages, images, AWS APIs",
            opts=scope.child(),
        )
        return sg

    def ingress(
        rule: str,
        sg: aws.ec2.SecurityGroup,
        protocol: str,
        low: int | None,
        high: int | None,
        *,
        cidr: str | None = None,
        source: aws.ec2.SecurityGroup | None = None,
    ) -> None:
        aws.vpc.SecurityGroupIngressRule(
            f"{scope.name}-{rule}",
            security_group_id=sg.id,
            ip_protocol=protocol,
            from_port=low,
            to_port=high,
            cidr_ipv4=cidr,
            referenced_security_group_id=source.id if source is not None else None,
            description=rule,
            opts=scope.child(),
        )

    # Only the node group carries the cluster tag: the cloud controller edits the
    # one tagged group of an instance to admit load-balancer traffic.
    cp = group("control-plane", f"{cluster} control planes", {})
    node = group("nodes", f"{cluster} worker nodes", args.node_tags)
    # Every path to the API server is in the VPC: nodes through the internal NLB, both
    # NLBs without client-IP preservation (their own private addresses reach it).
    ingress("control-plane-api-0", cp, "tcp", kubeadm.API_PORT, kubeadm.API_PORT, cidr=args.vpc_cidr)
    ingress("control-plane-etcd", cp, "tcp", 2379, 2380, source=cp)
    for source_name, source in (("control-plane", cp), ("nodes", node)):
        ingress(f"control-plane-kubelet-from-{source_name}", cp, "tcp", KUBELET_PORT, KUBELET_PORT, source=source)
        ingress(f"nodes-kubelet-from-{source_name}", node, "tcp", KUBELET_PORT, KUBELET_PORT, source=source)
        for protocol, low, high in POD_NETWORK_PORTS:
            ingress(f"control-plane-{protocol}{low}-from-{source_name}", cp, protocol, low, high, source=source)
            if source is cp:
                ingress(f"nodes-{protocol}{low}-from-control-plane", node, protocol, low, high, source=cp)
    for port in CONTROL_PLANE_METRICS_PORTS:
        ingress(f"control-plane-metrics-{port}-from-nodes", cp, "tcp", port, port, source=node)
    ingress("nodes-from-nodes", node, "-1", None, None, source=node)
    ingress("nodes-node-ports", node, "tcp", NODE_PORTS[0], NODE_PORTS[1], cidr=args.vpc_cidr)

    if args.api_endpoint == "natInstance":
        # No load balancer; the NAT instance's forward arrives from its own private
        # address, which the VPC rule above admits.
        return SecurityGroups(control_plane=cp, node=node, load_balancers={})
    public = args.api_endpoint == "public"
    internal_lb = group(
        "api-lb-internal" if public else "api-lb", f"{cluster} API load balancer for nodes (internal)", {}
    )
    ingress(
        "api-lb-internal-0" if public else "api-lb-0",
        internal_lb,
        "tcp",
        kubeadm.API_PORT,
        kubeadm.API_PORT,
        cidr=args.vpc_cidr,
    )
    load_balancers = {"api_internal": internal_lb}
    if public:
        public_lb = group("api-lb", f"{cluster} API load balancer for admins (internet-facing)", {})
        for i, cidr in enumerate(args.api_allowed_cidrs):
            ingress(f"api-lb-{i}", public_lb, "tcp", kubeadm.API_PORT, kubeadm.API_PORT, cidr=cidr)
        load_balancers["api_public"] = public_lb
    return SecurityGroups(control_plane=cp, node=node, load_balancers=load_balancers)
