"""natMode instance (dev): the routes, the interface, the instance's group and template,
its role, and its boot script rendered from the dev plan, shellchecked and run under
bash against stub commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.cluster import userdata, version_record
from components.cluster.node_group import group_sizes
from components.cluster.secrets import ParameterNames
from components.network import cidr, nat_instance
from tests.conftest import graph_for, stack_config
from tests.test_userdata import Node, shellcheck
from tools import harness

ENI = "network-nat-instance-eni"
ROUTE = "aws:ec2/route:Route"


def nat_script() -> str:
    template = graph_for("dev").one("aws:ec2/launchTemplate:LaunchTemplate", "network-nat-instance-lt")
    return userdata.script_of(template.inputs)


def setting(script: str, name: str) -> str:
    (line,) = [line for line in script.splitlines() if line.startswith(f"{name}=")]
    return line.split("=", 1)[1].strip("'")


def test_every_private_route_points_at_the_fixed_interface_and_no_nat_gateway_is_paid_for() -> None:
    graph = graph_for("dev")
    interface = graph.one("aws:ec2/networkInterface:NetworkInterface", ENI)
    defaults = [r for r in graph.of_type(ROUTE) if r.name.startswith("network-private-")]
    assert len(defaults) == stack_config("dev")["podium:network"]["azCount"]
    for route in defaults:
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert route.inputs["networkInterfaceId"] == interface.id
        assert "natGatewayId" not in route.inputs and "instanceId" not in route.inputs
    assert graph.of_type("aws:ec2/natGateway:NatGateway") == []
    assert interface.inputs["sourceDestCheck"] is False
    # In the public subnet of slot 0, where the group launches its one instance.
    public_0 = graph.one("aws:ec2/subnet:Subnet", "network-public-0").id
    group = graph.one("aws:autoscaling/group:Group", "network-nat-instance-asg")
    assert interface.inputs["subnetId"] == public_0
    assert group.inputs["vpcZoneIdentifiers"] == [public_0]
    assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (1, 1, 1)
    # A new template replaces the instance launch-before-terminate.
    assert group.inputs["instanceRefresh"]["preferences"] == {"minHealthyPercentage": 100, "maxHealthyPercentage": 200}


def test_the_instance_is_graviton_ubuntu_with_imdsv2_an_encrypted_root_and_its_own_role() -> None:
    graph = graph_for("dev")
    template = graph.one("aws:ec2/launchTemplate:LaunchTemplate", "network-nat-instance-lt").inputs
    assert template["instanceType"] == "t4g.nano"
    assert template["imageId"] == (
        "resolve:ssm:/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
    )
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    (root,) = template["blockDeviceMappings"]
    assert root["ebs"]["encrypted"] == "true" and root["ebs"]["volumeType"] == "gp3"
    profile = graph.one("aws:iam/instanceProfile:InstanceProfile", "network-nat-instance-role")
    assert template["iamInstanceProfile"]["arn"] == profile.state["arn"]
    # The role may touch only this cluster's NAT resources: the fixed interface by its
    # id, the Elastic IP by its allocation, the rest by the NAT tag.
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "network-nat-instance-role").inputs["policy"])
    actions = sorted(a for s in policy["Statement"] for a in s["Action"])
    assert actions == ["ec2:AssociateAddress", "ec2:AttachNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute"]
    eni_id = graph.one("aws:ec2/networkInterface:NetworkInterface", ENI).id
    allocation = graph.one("aws:ec2/eip:Eip", "network-nat-0").state["allocationId"]
    resources = {
        r for s in policy["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert any(r.endswith(f":network-interface/{eni_id}") for r in resources)
    assert any(r.endswith(f":elastic-ip/{allocation}") for r in resources)
    for statement in policy["Statement"]:
        assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/podium/nat-instance": "podium-dev"}}
    # Everything the role's condition needs carries the tag: the launched instance and
    # its interfaces, the fixed interface, the Elastic IP.
    tagged = {s["resourceType"] for s in template["tagSpecifications"] if s["tags"].get(nat_instance.NAT_TAG)}
    assert tagged == {"instance", "volume", "network-interface"}
    assert (
        graph.one("aws:ec2/networkInterface:NetworkInterface", ENI).inputs["tags"][nat_instance.NAT_TAG] == "podium-dev"
    )
    assert graph.one("aws:ec2/eip:Eip", "network-nat-0").inputs["tags"][nat_instance.NAT_TAG] == "podium-dev"


def test_the_nat_group_admits_the_vpc_and_the_api_port_only_from_the_allowed_cidrs() -> None:
    graph = graph_for("dev")
    group_id = graph.one("aws:ec2/securityGroup:SecurityGroup", "network-nat-instance-sg").id
    rules = [
        r.inputs
        for r in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == group_id
    ]
    allowed = stack_config("dev")["podium:cluster"]["apiAllowedCidrs"]
    assert {(r["cidrIpv4"], r["ipProtocol"], r.get("fromPort")) for r in rules} == {
        ("10.20.0.0/16", "-1", None),
        *((c, "tcp", 6443) for c in allowed),
    }


def test_the_boot_script_is_shellcheck_clean_and_names_the_plans_interface_address_and_forward() -> None:
    script = nat_script()
    graph = graph_for("dev")
    interface = graph.one("aws:ec2/networkInterface:NetworkInterface", ENI)
    assert shellcheck(script) == ""
    assert setting(script, "PODIUM_ENI_ID") == interface.id
    assert setting(script, "PODIUM_ENI_MAC") == interface.state["macAddress"]
    assert setting(script, "PODIUM_EIP_ALLOCATION_ID") == graph.one("aws:ec2/eip:Eip", "network-nat-0").id
    # The control plane's fixed address, on which the instance really is.
    address = cidr.control_plane_address("10.20.0.0/16")
    assert setting(script, "PODIUM_API_FORWARD") == f"{address}:6443"
    assert graph.one("aws:ec2/instance:Instance", "cluster-control-plane-0").inputs["privateIp"] == address


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def run_nat(node: Node, script: str, **kwargs: object) -> tuple[int, str, list[str]]:
    mac = setting(script, "PODIUM_ENI_MAC")
    done = node.run(script, as_file=True, env={"STUB_ENI_MAC": mac}, **kwargs)  # type: ignore[arg-type]
    return done.returncode, done.output, done.calls


def test_the_boot_script_forwards_masquerades_attaches_then_moves_the_address(node: Node) -> None:
    script = nat_script()
    code, output, calls = run_nat(node, script)
    assert code == 0, output
    iptables = [c for c in calls if c.startswith("iptables")]
    assert iptables == [
        "iptables -t nat -F",
        "iptables -t nat -A POSTROUTING -o ens5 -j MASQUERADE -m comment --comment podium: private subnets' egress",
        "iptables -t nat -A PREROUTING -i ens5 -d 10.20.128.7 -p tcp --dport 6443 -j DNAT "
        "--to-destination 10.20.0.10:6443 "
        "-m comment --comment podium: Kubernetes API",
    ]
    assert "sysctl -q -w net.ipv4.ip_forward=1" in calls
    eni = setting(script, "PODIUM_ENI_ID")
    order = [
        "iptables -t nat -F",
        "aws ec2 modify-network-interface-attribute --network-interface-id eni-0primary000000000 --no-source-dest-check",
        f"aws ec2 attach-network-interface --instance-id i-0123456789abcdef0 --network-interface-id {eni} --device-index 1",
        "ip link set dev ens6 up",
        "aws ec2 associate-address --allocation-id "
        f"{setting(script, 'PODIUM_EIP_ALLOCATION_ID')} --network-interface-id eni-0primary000000000 --allow-reassociation",
    ]
    assert [calls.index(c) for c in order] == sorted(calls.index(c) for c in order)
    # It runs again at every boot: rules and kernel settings do not survive a reboot.
    unit = (node.root / "etc/systemd/system/podium-nat.service").read_text()
    assert "ExecStart=/usr/local/sbin/podium-nat" in unit
    assert (node.root / "usr/local/sbin/podium-nat").read_text() == script
    assert "systemctl enable podium-nat.service" in calls
    assert not [c for c in calls if c.startswith("poweroff")]


def test_at_a_reboot_the_attached_interface_is_kept_and_the_unit_not_rewritten(node: Node) -> None:
    script = nat_script()
    assert run_nat(node, script)[0] == 0
    code, output, calls = run_nat(node, script)
    assert code == 0, output
    assert not [c for c in calls if c.startswith("aws ec2 attach-network-interface")]
    assert "systemctl enable podium-nat.service" not in calls


def test_it_waits_while_the_instance_it_replaces_still_holds_the_interface(node: Node) -> None:
    """The successor retries the attachment: 60 tries 5 s apart, then powers off so that
    its group starts over. The Elastic IP is not taken while the old one still routes."""
    (node.state / "interface-held").touch()
    code, output, calls = run_nat(node, nat_script())
    attempts = [c for c in calls if c.startswith("aws ec2 attach-network-interface")]
    assert code != 0
    assert len(attempts) == 60
    assert calls.count("sleep 5") >= 59
    assert "could not attach" in output
    assert calls[-1].strip() == "poweroff"
    assert not [c for c in calls if c.startswith("aws ec2 associate-address")]


# The last one fails inside a function (install_unit): the ERR trap must fire there too.
@pytest.mark.parametrize(
    "failing",
    [r"^iptables -t nat -A POSTROUTING", r"^aws ec2 modify-network-interface-attribute", r"^systemctl enable"],
)
def test_a_step_that_fails_powers_the_instance_off_for_its_group_to_replace(node: Node, failing: str) -> None:
    code, output, calls = run_nat(node, nat_script(), fail=failing)
    assert code != 0
    assert "FAILED" in output
    assert calls[-1].strip() == "poweroff"


def test_a_boot_script_without_the_interface_mac_is_refused() -> None:
    with pytest.raises(ValueError, match="MAC address"):
        nat_instance.boot_script(
            region="us-east-1", eni_id="eni-1", eni_mac="", allocation_id="eipalloc-1", api_forward=None
        )


def masquerade_only_script() -> str:
    """A NAT instance's script without the API forward (natMode instance on a stack whose
    API has load balancers)."""
    return nat_instance.boot_script(
        region="us-east-1",
        eni_id="eni-0fixed",
        eni_mac="0e:aa:bb:cc:dd:ee",
        allocation_id="eipalloc-0abc",
        api_forward=None,
    )


def test_without_the_api_forward_the_script_only_masquerades(node: Node) -> None:
    script = masquerade_only_script()
    assert shellcheck(script) == ""
    code, output, calls = run_nat(node, script)
    assert code == 0, output
    assert [c for c in calls if "DNAT" in c] == []


def test_a_gateway_stack_turned_instance_keeps_its_elastic_ip_urn() -> None:
    """The Elastic IP keeps the NAT gateway's name in slot 0: switching modes keeps the
    stack's public egress address (an update of its tags, not a new address)."""
    staging = graph_for("staging").one("aws:ec2/eip:Eip", "network-nat-0")
    dev = graph_for("dev").one("aws:ec2/eip:Eip", "network-nat-0")
    assert staging.urn.replace("staging", "dev") == dev.urn


def test_group_sizes_spread_the_minimum_and_fill_the_initial_nodes_from_the_first_group() -> None:
    assert group_sizes(1, 2, 1, 3) == [(1, 2, 1), (0, 2, 0), (0, 2, 0)]
    assert group_sizes(3, 2, 4, 3) == [(1, 2, 2), (1, 2, 1), (1, 2, 1)]
    assert group_sizes(0, 2, 3, 2) == [(0, 2, 2), (0, 2, 1)]
    assert group_sizes(2, 3, 2, 1) == [(2, 3, 2)]


def test_the_dev_db_pool_keeps_one_node_in_its_first_group_only() -> None:
    groups = [g for g in graph_for("dev").of_type("aws:autoscaling/group:Group") if g.name.startswith("pool-db")]
    assert sorted((g.name, g.inputs["minSize"], g.inputs["desiredCapacity"]) for g in groups) == [
        ("pool-db-asg", 1, 1),
        ("pool-db-asg-2", 0, 0),
    ]


def test_a_running_cluster_cannot_move_to_or_from_the_nat_endpoint() -> None:
    """The record in SSM says how the cluster was made; the program stops before any
    resource, naming the key, instead of rebuilding the control plane's address."""
    names = ParameterNames("podium-dev")
    made_public = {names.kubernetes_version: "1.35.8", names.api_endpoint: "public"}
    made_before_the_record = {names.kubernetes_version: "1.35.8"}
    for parameters in (made_public, made_before_the_record):
        with pytest.raises(harness.ProgramError) as caught:
            harness.run("dev", parameters=parameters)
        assert "podium:cluster.apiEndpoint: the running cluster was made with public" in str(caught.value)
        # Only the provider the record is read with.
        assert [r.type for r in caught.value.graph.resources] == ["pulumi:providers:aws"]
    assert version_record.endpoint_change(None, None, "natInstance") is None  # a new cluster
    assert version_record.endpoint_change("1.35.8", "natInstance", "natInstance") is None
    assert version_record.endpoint_change("1.35.8", None, "internal") is None
    assert "cannot change to public" in str(version_record.endpoint_change("1.35.8", "natInstance", "public"))


def test_an_address_still_held_by_a_deleted_gateway_is_moved_later_without_stopping_egress(node: Node) -> None:
    """natMode single -> instance: the gateway keeps the Elastic IP until the end of the
    `up`. Without the API forward the instance keeps forwarding and retries on the side."""
    script = masquerade_only_script()
    (node.root / "var/log").mkdir(parents=True)
    code, output, calls = run_nat(node, script, fail=r"^aws ec2 associate-address")
    assert code == 0, output
    assert "retrying for an hour" in output
    assert not [c for c in calls if c.startswith("poweroff")]


def test_with_the_api_forward_an_address_that_cannot_move_powers_the_instance_off(node: Node) -> None:
    code, output, calls = run_nat(node, nat_script(), fail=r"^aws ec2 associate-address")
    assert code != 0
    assert "could not move the Elastic IP" in output
    assert calls[-1].strip() == "poweroff"
