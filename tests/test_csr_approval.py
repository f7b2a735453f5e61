"""Every node's kubelet serving certificate is approved under the approver's own
rules (tests/csr_approver.py), given the addresses the AWS cloud controller reports
for it; the old single control plane behind an Elastic IP was not."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.platform.certificates import csr_approver_values, ec2_node_name_pattern
from tests.conftest import graph_for, stack_config
from tests.csr_approver import ServingCsr, csr_from_node_addresses, decide

PRIVATE_NAME = "ip-10-20-1-23.ec2.internal"
PRIVATE_IP = "10.20.1.23"


def ccm_addresses(private_name: str, private_ip: str, public: tuple[str, str] | None) -> list[tuple[str, str]]:
    """cloud-provider-aws v1.35.2 pkg/providers/v1/aws.go, extractIPv4NodeAddresses:
    InternalIP per private address, ExternalIP if the instance has a public address,
    InternalDNS and Hostname both the private DNS name, ExternalDNS if public."""
    found = [("InternalIP", private_ip)]
    if public:
        found.append(("ExternalIP", public[0]))
    found += [("InternalDNS", private_name), ("Hostname", private_name)]
    if public:
        found.append(("ExternalDNS", public[1]))
    return found


def in_vpc_dns(public: tuple[str, str] | None = None) -> Any:
    """Inside the VPC an EC2 public name resolves to the private address."""
    table = {PRIVATE_NAME: [PRIVATE_IP]}
    if public:
        table[public[1]] = [PRIVATE_IP]
    return lambda name: table.get(name, [])


def deployed_values(stack: str) -> dict[str, Any]:
    (release,) = [
        r for r in graph_for(stack).of_type("kubernetes:helm.sh/v3:Release") if r.name.endswith("csr-approver")
    ]
    return release.inputs["values"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_node_of_a_stack_gets_its_serving_certificate(stack: str) -> None:
    graph = graph_for(stack)
    subnet = next(s for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name)
    address = str(ipaddress.ip_network(subnet.inputs["cidrBlock"])[23])
    region = stack_config(stack)["aws:region"]
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    name = f"ip-{address.replace('.', '-')}.{suffix}"
    csr = csr_from_node_addresses(name, ccm_addresses(name, address, None))
    assert csr == ServingCsr(name, (name,), (address,))
    assert decide(csr, deployed_values(stack), lambda n: [address] if n == name else []) == "approved"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_control_plane_has_a_public_address(stack: str) -> None:
    graph = graph_for(stack)
    assert graph.of_type("aws:ec2/eip:Eip") == [r for r in graph.of_type("aws:ec2/eip:Eip") if "nat" in r.name]
    public_subnets = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "public" in s.name}
    for instance in graph.of_type("aws:ec2/instance:Instance"):
        assert instance.inputs["subnetId"] not in public_subnets, instance.name
        assert not instance.inputs.get("associatePublicIpAddress"), instance.name


def test_the_old_elastic_ip_control_plane_was_denied() -> None:
    """Before issue 13: dev's control plane had an EIP; its CSR carried the public name
    and address, and the approver refused it (TestInvalidDNSName's rule)."""
    public = ("198.51.100.7", "ec2-198-51-100-7.compute-1.amazonaws.com")
    csr = csr_from_node_addresses(PRIVATE_NAME, ccm_addresses(PRIVATE_NAME, PRIVATE_IP, public))
    old_values = {
        "providerRegex": r"^(ip-[0-9]{1,3}(-[0-9]{1,3}){3}\.ec2\.internal|ec2-[0-9]{1,3}(-[0-9]{1,3}){3}\.compute-1\.amazonaws\.com)$",
        "allowedDnsNames": 2,
        "bypassDnsResolution": False,
        "providerIpPrefixes": ["10.20.0.0/16", "198.51.100.7/32"],
    }
    assert decide(csr, old_values, in_vpc_dns(public)) == (
        f"DNS name {public[1]} does not start with the node name {PRIVATE_NAME}"
    )


@pytest.mark.parametrize(
    ("csr", "values", "reason"),
    [
        # TestInvalidRegexName
        (ServingCsr("ip-1", ("ip-1.evil.io",), ()), {"providerRegex": r"\.test\.ch$"}, "does not match providerRegex"),
        # TestUnresolvedDNSName
        (ServingCsr("ip-1", ("ip-1.test.ch",), ()), {}, "does not resolve"),
        # TestMismatchedResolvedIpsSANIps
        (
            ServingCsr("ip-1", ("ip-1.test.ch",), ("9.9.9.9",)),
            {"resolve": True},
            "not contained in the set of resolved",
        ),
        # TestIPv4NotWhitelisted (no DNS name: the IP is checked against the prefixes only)
        (
            ServingCsr("ip-1", (), ("9.9.9.9",)),
            {"providerIpPrefixes": ["192.168.0.0/16"]},
            "not within providerIpPrefixes",
        ),
        # allowedDnsNames defaults to 1
        (ServingCsr("ip-1", ("ip-1.a", "ip-1.b"), ()), {}, "more than allowedDnsNames"),
    ],
)
def test_the_model_denies_as_the_approvers_tests_do(csr: ServingCsr, values: dict[str, Any], reason: str) -> None:
    resolve = (lambda name: ["192.168.1.1"]) if values.pop("resolve", False) else (lambda name: [])
    assert reason in decide(csr, values, resolve)


def test_the_node_name_pattern_admits_only_private_names() -> None:
    pattern = ec2_node_name_pattern("us-east-1")
    values = csr_approver_values(pattern, ["10.20.0.0/16"])
    assert decide(ServingCsr(PRIVATE_NAME, (PRIVATE_NAME,), (PRIVATE_IP,)), values, in_vpc_dns()) == "approved"
    public = "ec2-198-51-100-7.compute-1.amazonaws.com"
    assert "providerRegex" in decide(ServingCsr("ec2-198-51-100-7", (public,), ()), values, in_vpc_dns())
