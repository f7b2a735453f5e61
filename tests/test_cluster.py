"""ClusterBootstrap and NodeGroup through the whole program, for dev and prod: the
graph's shape, its security, the secrets, the kubeconfig and deletion protection."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from components.cluster.node_group import refresh_preferences
from components.cluster.node_image import UBUNTU_AMI_PARAMETER
from components.cluster.userdata import script_of
from tests import openssl
from tests.buckets import assert_private_bucket
from tests.conftest import graph_for, node_pool_resources, stack_config
from tools import capacity, harness

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
PARAMETER = "aws:ssm/parameter:Parameter"
ASG = "aws:autoscaling/group:Group"
SENSITIVE_PORTS = (22, 2379, 6443, 10250)
USER_DATA_LIMIT = 16 * 1024


def control_planes(graph: harness.Graph) -> list[harness.Resource]:
    return sorted(graph.of_type(INSTANCE), key=lambda r: r.name)


def zone_of_subnet(graph: harness.Graph, subnet_id: str) -> str:
    subnet = graph.resolve(subnet_id)
    assert subnet is not None, subnet_id
    return subnet.inputs["availabilityZone"]


def _balancers(graph: harness.Graph) -> dict[str, harness.Resource]:
    return {lb.name: lb for lb in graph.of_type("aws:lb/loadBalancer:LoadBalancer")}


@pytest.mark.parametrize(("stack", "count"), [("staging", 3), ("prod", 3)])
def test_nodes_use_an_internal_nlb_and_admins_a_public_one(stack: str, count: int) -> None:
    graph = graph_for(stack)
    planes = control_planes(graph)
    assert len(planes) == count
    assert len({zone_of_subnet(graph, p.inputs["subnetId"]) for p in planes}) == count
    assert all(p.inputs["subnetId"] in set(graph.exports["privateSubnetIds"]) for p in planes)
    balancers = _balancers(graph)
    assert set(balancers) == {"cluster-api", "cluster-api-internal"}
    internal, public = balancers["cluster-api-internal"], balancers["cluster-api"]
    assert internal.inputs["internal"] is True and internal.inputs["subnets"] == graph.exports["privateSubnetIds"]
    assert public.inputs["internal"] is False and public.inputs["subnets"] == graph.exports["publicSubnetIds"]
    for lb in balancers.values():
        assert lb.inputs["loadBalancerType"] == "network" and lb.inputs["enableCrossZoneLoadBalancing"] is True
    for target_group in graph.of_type("aws:lb/targetGroup:TargetGroup"):
        # Without this a control plane reaching itself through the NLB times out.
        assert target_group.inputs["preserveClientIp"] == "false"
        assert target_group.inputs["healthCheck"]["path"] == "/readyz"
        assert target_group.inputs["healthCheck"]["timeout"] < target_group.inputs["healthCheck"]["interval"]
        attached = {
            a.inputs["targetId"]
            for a in graph.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
            if a.inputs["targetGroupArn"] == target_group.state.get("arn", target_group.id)
            or a.inputs["targetGroupArn"].endswith(target_group.inputs["name"])
        }
        assert attached == {p.id for p in planes}, target_group.name
    assert [e.name for e in graph.of_type("aws:ec2/eip:Eip") if not e.name.startswith("network-nat-")] == []
    assert graph.exports["clusterEndpoint"] == f"https://{public.state['dnsName']}:6443"
    # What the join and the control planes' kubeadm name: the internal NLB; the
    # public name is in the API server's certificate.
    internal_endpoint = f"{internal.state['dnsName']}:6443"
    for plane in planes:
        script = script_of(plane.inputs)
        assert f"PODIUM_API_ENDPOINT={internal_endpoint}" in script or f"api_endpoint={internal_endpoint}" in script
    init = next(p for p in planes if p.name.endswith("-0"))
    assert f"controlPlaneEndpoint: {internal_endpoint}" in script_of(init.inputs)
    assert f"- {public.state['dnsName']}" in script_of(init.inputs)


def test_control_planes_boot_only_once_their_subnet_routes_out() -> None:
    graph = graph_for("prod")
    routes = {r.urn for r in graph.of_type("aws:ec2/route:Route") if "private" in r.name}
    assert len(routes) == 3
    for plane in control_planes(graph):
        assert routes <= set(plane.dependencies), plane.name


def test_an_internal_endpoint_has_only_the_internal_nlb_under_its_old_names() -> None:
    config = stack_config("prod")
    config["podium:cluster"]["apiEndpoint"] = "internal"
    graph = harness.run("prod", config)
    lb = graph.one("aws:lb/loadBalancer:LoadBalancer")
    assert lb.name == "cluster-api" and lb.inputs["name"] == "podium-prod-api"
    assert lb.inputs["internal"] is True
    assert lb.inputs["subnets"] == graph.exports["privateSubnetIds"]
    lb_sources = {r.inputs.get("cidrIpv4") for r in graph.of_type(INGRESS) if "api-lb" in r.name}
    assert lb_sources == {"10.30.0.0/16"}


def test_every_instance_and_launch_template_requires_imdsv2_and_encrypts_volumes(aws_graph: harness.Graph) -> None:
    for instance in aws_graph.of_type(INSTANCE):
        assert instance.inputs["metadataOptions"]["httpTokens"] == "required", instance.name
        assert instance.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1  # no pod reaches it
        assert instance.inputs["rootBlockDevice"]["encrypted"] is True
    for template in node_pool_resources(aws_graph, LAUNCH_TEMPLATE):
        assert template.inputs["metadataOptions"]["httpTokens"] == "required", template.name
        assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        devices = template.inputs["blockDeviceMappings"]
        assert devices and all(d["ebs"]["encrypted"] == "true" and d["ebs"]["volumeType"] == "gp3" for d in devices)
    volumes = aws_graph.of_type("aws:ebs/volume:Volume")
    assert len(volumes) == len(aws_graph.of_type(INSTANCE))
    assert all(v.inputs["encrypted"] is True for v in volumes)


def _covers(rule: dict[str, Any], port: int) -> bool:
    if rule["ipProtocol"] == "-1":
        return True
    return rule.get("fromPort", 0) <= port <= rule.get("toPort", 65535)


def test_no_security_group_opens_sensitive_ports_to_the_internet(aws_graph: harness.Graph) -> None:
    rules = [r.inputs for r in aws_graph.of_type(INGRESS)]
    assert rules, "no ingress rules captured"
    for rule in rules:
        if rule.get("cidrIpv4") == "0.0.0.0/0":
            assert not any(_covers(rule, port) for port in SENSITIVE_PORTS), rule
    assert not [r for r in rules if r["ipProtocol"] == "tcp" and _covers(r, 22)], "SSH is open"
    assert aws_graph.of_type("aws:ec2/securityGroupRule:SecurityGroupRule") == []
    for group in aws_graph.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("ingress"), f"{group.name} has inline rules the test would not see"


def test_etcd_is_reachable_only_from_control_planes(aws_graph: harness.Graph) -> None:
    etcd = [r for r in aws_graph.of_type(INGRESS) if _covers(r.inputs, 2379) and r.inputs["ipProtocol"] != "-1"]
    control_plane_group = aws_graph.one("aws:ec2/securityGroup:SecurityGroup", "cluster-control-plane")
    assert etcd and all(r.inputs.get("referencedSecurityGroupId") == control_plane_group.id for r in etcd)


def test_dev_reaches_its_one_control_plane_without_a_load_balancer() -> None:
    """apiEndpoint natInstance: nodes join the control plane's fixed private address,
    admins use the NAT's Elastic IP, which the API server's certificate names."""
    graph = graph_for("dev")
    assert _balancers(graph) == {} and graph.of_type("aws:lb/targetGroup:TargetGroup") == []
    (plane,) = control_planes(graph)
    address = plane.inputs["privateIp"]
    assert address == "10.20.0.10" and plane.delete_before_replace
    elastic_ip = graph.one("aws:ec2/eip:Eip", "network-nat-0").state["publicIp"]
    assert graph.exports["clusterEndpoint"] == f"https://{elastic_ip}:6443"
    assert (
        yaml.safe_load(graph.exports["kubeconfig"])["clusters"][0]["cluster"]["server"] == f"https://{elastic_ip}:6443"
    )
    init = capacity.kubeadm_documents(plane.inputs)
    cluster_configuration = next(d for d in init if d["kind"] == "ClusterConfiguration")
    assert cluster_configuration["controlPlaneEndpoint"] == f"{address}:6443"
    assert elastic_ip in cluster_configuration["apiServer"]["certSANs"]
    for template in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        if template.name.startswith("pool-"):
            join = next(d for d in capacity.kubeadm_documents(template.inputs) if d["kind"] == "JoinConfiguration")
            assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == f"{address}:6443"


def test_the_api_is_reachable_only_from_allowed_cidrs_and_the_vpc() -> None:
    for stack in ("staging", "prod"):
        graph = graph_for(stack)
        config = stack_config(stack)

        def sources(group: str, graph: harness.Graph = graph) -> set[str]:
            group_id = graph.one("aws:ec2/securityGroup:SecurityGroup", group).id
            return {
                r.inputs.get("cidrIpv4")
                for r in graph.of_type(INGRESS)
                if r.inputs["securityGroupId"] == group_id and _covers(r.inputs, 6443)
            }

        vpc = config["podium:network"]["cidr"]
        assert sources("cluster-api-lb") == set(config["podium:cluster"]["apiAllowedCidrs"]), stack
        assert sources("cluster-api-lb-internal") == {vpc}, stack
        assert sources("cluster-control-plane") == {vpc}, stack


def _secret_values(graph: harness.Graph) -> list[str]:
    values = [r.state["privateKeyPem"].strip() for r in graph.of_type("tls:index/privateKey:PrivateKey")] + [
        r.state["base64"] for r in graph.of_type("random:index/randomBytes:RandomBytes")
    ]
    token_parts = sorted(
        (r for r in graph.of_type("random:index/randomPassword:RandomPassword") if r.name.startswith("cluster-token-")),
        key=lambda r: r.name.endswith("secret"),
    )
    token = ".".join(p.state["result"] for p in token_parts)
    values += [token, token_parts[1].state["result"], graph.exports["kubeconfig"]]
    # Also the base64 forms a kubeconfig or user data would carry.
    return values + [base64.b64encode(v.encode()).decode() for v in values]


def test_no_key_token_or_kubeconfig_appears_anywhere_public(aws_graph: harness.Graph) -> None:
    secrets = _secret_values(aws_graph)
    assert len(secrets) >= 2 * 8
    assert "kubeconfig" in aws_graph.secret_exports
    for resource in aws_graph.resources:
        public = json.dumps([resource.public_inputs, resource.public_state, resource.public_outputs])
        for value in secrets:
            assert value not in public, f"{resource.type} {resource.name} exposes a secret"
    exports = json.dumps(aws_graph.public_exports)
    assert not [v for v in secrets if v in exports]


def test_user_data_carries_parameter_names_never_secret_values(aws_graph: harness.Graph) -> None:
    secrets = _secret_values(aws_graph)
    instances, templates = aws_graph.of_type(INSTANCE), node_pool_resources(aws_graph, LAUNCH_TEMPLATE)
    # What EC2 receives, under its limit: members' scripts gzipped (cloud-init unpacks
    # them), pools' as text, so a template changes only with its script.
    assert not [i.name for i in instances if "userData" in i.inputs]
    for payload in (base64.b64decode(i.inputs["userDataBase64"]) for i in instances):
        assert payload[:2] == b"\x1f\x8b" and len(payload) < USER_DATA_LIMIT
    for payload in (base64.b64decode(t.inputs["userData"]) for t in templates):
        assert payload.startswith(b"#!/bin/bash") and len(payload) < USER_DATA_LIMIT
    scripts = [script_of(r.inputs) for r in [*instances, *templates]]
    cluster = aws_graph.exports["clusterName"]
    for script in scripts:
        assert script.startswith("#!/bin/bash")
        assert f"/podium/{cluster}/join/token" in script
        assert not [v for v in secrets if v in script]


def test_secrets_are_secure_strings_under_the_cluster_key(aws_graph: harness.Graph) -> None:
    key = aws_graph.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    cluster = aws_graph.exports["clusterName"]
    secure = [p for p in aws_graph.of_type(PARAMETER) if p.inputs["type"] == "SecureString"]
    names = {p.inputs["name"] for p in secure}
    pki = f"/podium/{cluster}/control-plane/pki"
    assert names == {
        f"/podium/{cluster}/join/token",
        f"/podium/{cluster}/control-plane/encryption-key",
        *(
            f"{pki}/{f}"
            for f in ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key")
        ),
        f"{pki}/sa.key",
        f"{pki}/sa.pub",
    }
    for parameter in secure:
        assert parameter.inputs["keyId"] == key.state["arn"]
        assert "value" in parameter.secret_inputs, parameter.name


def test_token_has_kubeadms_format() -> None:
    graph = graph_for("dev")
    parts = {
        r.name.rsplit("-", 1)[1]: r
        for r in graph.of_type("random:index/randomPassword:RandomPassword")
        if r.name.startswith("cluster-token-")
    }
    assert parts["id"].inputs["length"] == 6 and parts["secret"].inputs["length"] == 16
    for part in parts.values():
        assert part.inputs["upper"] is False and part.inputs["special"] is False


def test_kubeconfig_embeds_the_ca_output_and_an_admin_certificate_it_signed(aws_graph: harness.Graph) -> None:
    kubeconfig = yaml.safe_load(aws_graph.exports["kubeconfig"])
    cluster = kubeconfig["clusters"][0]["cluster"]
    ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
    assert ca_pem == aws_graph.exports["clusterCaCertificate"]
    assert cluster["server"] == aws_graph.exports["clusterEndpoint"]
    user = kubeconfig["users"][0]["user"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    certificate.verify_directly_issued_by(ca)
    groups = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["kubeadm:cluster-admins"]


def test_discovery_hash_matches_openssl_and_reaches_every_join(aws_graph: harness.Graph) -> None:
    ca_pem = aws_graph.exports["clusterCaCertificate"]
    expected = openssl.discovery_hash(ca_pem)
    bootstrap = aws_graph.one("podium:cluster:ClusterBootstrap")
    assert bootstrap.outputs["discoveryHash"] == expected
    joins = [script_of(t.inputs) for t in node_pool_resources(aws_graph, LAUNCH_TEMPLATE)]
    joins += [script_of(i.inputs) for i in control_planes(aws_graph)[1:]]
    assert joins and all(expected in script for script in joins)


def test_control_planes_have_termination_protection_only_where_protected() -> None:
    # What `protect` covers is in test_environments; AWS's own guard is on the instances.
    assert all(i.inputs["disableApiTermination"] is True for i in graph_for("prod").of_type(INSTANCE))
    assert all(i.inputs["disableApiTermination"] is False for i in graph_for("dev").of_type(INSTANCE))


def test_etcd_snapshot_bucket_is_private_versioned_encrypted_and_expires(aws_graph: harness.Graph) -> None:
    key = aws_graph.one("aws:kms/key:Key")
    retention = stack_config(aws_graph.stack)["podium:controlPlane"].get("etcdSnapshotRetentionDays", 14)
    assert_private_bucket(
        aws_graph,
        "cluster-etcd-backups",
        encryption={"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.state["arn"]},
        expire_prefix="etcd/",
        expire_days=retention,
    )


def test_node_image_is_recorded_once_and_never_followed_silently() -> None:
    graph = graph_for("dev")
    record = graph.one(PARAMETER, "cluster-node-ami")
    assert record.inputs["dataType"] == "aws:ec2:image"
    assert record.ignore_changes == ["insecureValue"]
    ami = record.inputs["insecureValue"]
    assert ami == harness.MOCK_AMI
    assert all(i.inputs["ami"] == ami and "ami" in i.ignore_changes for i in graph.of_type(INSTANCE))
    assert all(t.inputs["imageId"] == ami for t in node_pool_resources(graph, LAUNCH_TEMPLATE))
    assert UBUNTU_AMI_PARAMETER.startswith("/aws/service/canonical/ubuntu/server/24.04/")


def test_a_configured_ami_is_used_and_upgrades_the_record() -> None:
    config = stack_config("dev")
    config["podium:cluster"]["amiId"] = "ami-0fedcba9876543210"
    graph = harness.run("dev", config)
    record = graph.one(PARAMETER, "cluster-node-ami")
    assert record.inputs["insecureValue"] == "ami-0fedcba9876543210"
    assert record.ignore_changes == []
    assert all(t.inputs["imageId"] == "ami-0fedcba9876543210" for t in node_pool_resources(graph, LAUNCH_TEMPLATE))


def test_each_pool_has_its_groups_and_none_fights_a_scaler(aws_graph: harness.Graph) -> None:
    """A pool has one group across the private subnets, or, zonal, one group per AZ slot
    in that slot's subnet (the first keeping the pool's old name), each with the pool's
    bounds, the initial nodes in the first slots."""
    config = stack_config(aws_graph.stack)
    az_count = config["podium:network"]["azCount"]
    pools = config["podium:nodePools"]
    groups = {g.name: g for g in node_pool_resources(aws_graph, ASG)}
    private = aws_graph.exports["privateSubnetIds"]
    expected: dict[str, tuple[list[str], int]] = {}
    for pool in pools:
        if pool.get("zonal"):
            # The shipped zonal pools (the database's): one node to start and to keep, in
            # the first group, which is in the first AZ; the others rest at 0.
            assert (pool["min"], pool["max"], pool["desired"], pool.get("firstAzSlot", 0)) == (1, 2, 1, 0)
            names = [f"pool-{pool['name']}-asg"] + [f"pool-{pool['name']}-asg-{n}" for n in range(2, az_count + 1)]
            for slot, name in enumerate(names):
                expected[name] = ([private[slot]], 1 if slot == 0 else 0)
        else:
            expected[f"pool-{pool['name']}-asg"] = (private, pool["desired"])
    assert set(groups) == set(expected)
    assert any(pool.get("zonal") for pool in pools), "every shipped stack has a zonal database pool"
    for pool in pools:
        for name in (n for n in expected if n.startswith(f"pool-{pool['name']}-asg")):
            group = groups[name]
            subnets, desired = expected[name]
            if not pool.get("zonal"):
                desired = pool["desired"]
            # A zonal pool's minimum is its total: here the first group's one node.
            low = pool["min"] if not pool.get("zonal") else desired
            assert (group.inputs["minSize"], group.inputs["maxSize"]) == (low, pool["max"]), name
            assert group.inputs["desiredCapacity"] == desired, name
            assert group.inputs["vpcZoneIdentifiers"] == subnets, name
            assert group.ignore_changes == ["desiredCapacity"]
            refresh = group.inputs["instanceRefresh"]
            assert refresh["strategy"] == "Rolling"
            # Launch before terminate: a refresh never takes the pool below its size.
            assert refresh["preferences"]["minHealthyPercentage"] == 100
            if desired <= 1:
                assert refresh["preferences"]["maxHealthyPercentage"] == 200, name
            spot = group.inputs.get("mixedInstancesPolicy")
            if pool.get("spot"):
                assert spot["instancesDistribution"]["onDemandPercentageAboveBaseCapacity"] == 0
                assert [o["instanceType"] for o in spot["launchTemplate"]["overrides"]] == [pool["instanceType"]]
            else:
                assert spot is None and group.inputs["launchTemplate"]["id"]


def test_default_tags_reach_what_the_groups_launch(aws_graph: harness.Graph) -> None:
    """The provider's default tags apply to neither: the launch template's tag
    specifications and the group's propagated tags must carry them."""
    provider = aws_graph.one("pulumi:providers:aws")
    default = json.loads(provider.inputs["defaultTags"])["tags"]
    assert {"environment", "managed-by"} <= set(default)
    for template in node_pool_resources(aws_graph, LAUNCH_TEMPLATE):
        specifications = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
        assert set(specifications) == {"instance", "volume", "network-interface"}, template.name
        for kind, tags in specifications.items():
            assert default.items() <= tags.items(), (template.name, kind)
    for group in node_pool_resources(aws_graph, ASG):
        propagated = {t["key"]: t["value"] for t in group.inputs["tags"] if t["propagateAtLaunch"]}
        assert default.items() <= propagated.items(), group.name


@pytest.mark.parametrize(
    ("desired", "max_healthy"), [(0, 200), (1, 200), (2, 150), (3, 134), (10, 110), (11, 119), (25, 112)]
)
def test_instance_refresh_adds_a_tenth_of_the_pool_at_a_time(desired: int, max_healthy: int) -> None:
    preferences = refresh_preferences(desired)
    assert (preferences.min_healthy_percentage, preferences.max_healthy_percentage) == (100, max_healthy)
    # At least one whole node of headroom, so the refresh can make progress at all.
    assert max(desired, 1) * (max_healthy - 100) / 100 >= 1


def test_pool_labels_and_taints_reach_the_join_configuration() -> None:
    graph = graph_for("dev")
    template = graph.one(LAUNCH_TEMPLATE, "pool-db-template")
    script = script_of(template.inputs)
    assert "podium/pool=db" in script
    assert "podium/dedicated" in script and "NoSchedule" in script
    general = script_of(graph.one(LAUNCH_TEMPLATE, "pool-general-template").inputs)
    assert "podium/dedicated" not in general


def test_control_plane_role_reads_its_parameters_and_nodes_only_the_token(aws_graph: harness.Graph) -> None:
    cluster = aws_graph.exports["clusterName"]
    policies = {p.name: p.inputs["policy"] for p in aws_graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert f"parameter/podium/{cluster}/control-plane" in policies["cluster-control-plane"]
    node_policies = [text for name, text in policies.items() if name.startswith("pool-")]
    assert node_policies
    for text in node_policies:
        assert "control-plane" not in text
        assert f"parameter/podium/{cluster}/join/token" in text


def test_readiness_gate_waits_for_the_control_planes_and_feeds_the_kubeconfig(aws_graph: harness.Graph) -> None:
    gate = aws_graph.one("pulumi-python:dynamic:Resource", "cluster-api-ready")
    planes = control_planes(aws_graph)
    assert {p.urn for p in planes} <= set(gate.dependencies)
    assert gate.inputs["endpoint"] == aws_graph.exports["clusterEndpoint"]
    assert gate.inputs["caPem"] == aws_graph.exports["clusterCaCertificate"]
    # It asks as the admin of the kubeconfig, for every control plane of the stack.
    user = yaml.safe_load(aws_graph.exports["kubeconfig"])["users"][0]["user"]
    assert gate.inputs["clientCertPem"] == base64.b64decode(user["client-certificate-data"]).decode()
    assert gate.inputs["clientKeyPem"] == base64.b64decode(user["client-key-data"]).decode()
    assert "clientKeyPem" in gate.secret_inputs
    # Every member by its Node name (the EC2 private DNS name), not a count.
    by_name = sorted(planes, key=lambda p: p.name)
    assert gate.inputs["stage"] == "control-plane"
    assert gate.inputs["nodeNames"] == [p.state["privateDns"] for p in by_name]
    assert len(set(gate.inputs["nodeNames"])) == stack_config(aws_graph.stack)["podium:controlPlane"]["count"]
    # A replaced member is waited for again; a failure names every member's instance id.
    assert gate.inputs["instanceIds"] == [p.id for p in sorted(planes, key=lambda p: p.name)]
    assert all(p.id in gate.inputs["hint"] for p in planes) and "podium-bootstrap.log" in gate.inputs["hint"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cluster_resources_carry_the_cloud_provider_tag(stack: str) -> None:
    graph = graph_for(stack)
    tag = f"kubernetes.io/cluster/{graph.exports['clusterName']}"
    assert all(i.inputs["tags"][tag] == "owned" for i in graph.of_type(INSTANCE))
    groups = {g.name: g.inputs["tags"] for g in graph.of_type("aws:ec2/securityGroup:SecurityGroup")}
    # Exactly one tagged group per instance, or the cloud controller refuses to pick.
    assert [name for name, tags in groups.items() if tag in tags] == ["cluster-nodes"]
    for group in node_pool_resources(graph, ASG):
        assert {"key": tag, "value": "owned", "propagateAtLaunch": True} in group.inputs["tags"]


def test_every_role_policy_in_the_graph_passes_parliament(aws_graph: harness.Graph) -> None:
    from components.cluster.iam_policies import PARLIAMENT_ACCEPTED_FINDINGS
    from tests.test_iam_policies import lint, unexpected

    documents = [json.loads(p.inputs["policy"]) for p in aws_graph.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert len(documents) >= 3
    for document in documents:
        for statement in document["Statement"]:
            statement.setdefault("Sid", "Unnamed")
        assert unexpected(lint(document), PARLIAMENT_ACCEPTED_FINDINGS) == []
