"""Stack files, exports, the offline plan and the generated config documentation."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from components.config.schema import camel
from components.config.settings import StackConfig
from tests.conftest import graph_for, stack_config
from tools import configdoc, harness, plan

# Overrides a stack sets only when it departs from the pinned defaults, and the alert
# receiver: a secret a stack file in this repository can only leave unset.
OPTIONAL_OVERRIDES = {"podium:addonVersions", "podium:alertWebhookUrl"}
CONTRACT_KEYS = {f"podium:{camel(f.name)}" for f in dataclasses.fields(StackConfig)} - OPTIONAL_OVERRIDES
AWS_ONLY_EXPORTS = {
    "vpcId",
    "publicSubnetIds",
    "privateSubnetIds",
    "clusterEndpoint",
    "clusterCaCertificate",
    "kubeconfig",
    "nodeSecurityGroupId",
    "oidcIssuerUrl",
    "oidcProviderArn",
    "appBackupBucket",
    "tenantKubeconfigs",
}
COMMON_EXPORTS = {"environment", "clusterName", "kubernetesVersion", "appNamespace", "appUrl"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_aws_stacks_fill_in_the_whole_contract(stack: str) -> None:
    assert set(stack_config(stack)) == CONTRACT_KEYS | {"aws:region"}


def test_dev_and_prod_differ_as_intended() -> None:
    dev, prod = stack_config("dev"), stack_config("prod")
    assert (dev["podium:network"]["azCount"], dev["podium:network"]["natMode"]) == (2, "instance")
    assert (dev["podium:cluster"]["apiEndpoint"], prod["podium:cluster"]["apiEndpoint"]) == ("natInstance", "public")
    assert (prod["podium:network"]["azCount"], prod["podium:network"]["natMode"]) == (3, "perAz")
    assert (dev["podium:controlPlane"]["count"], prod["podium:controlPlane"]["count"]) == (1, 3)
    assert (dev["podium:deletionProtection"], prod["podium:deletionProtection"]) == (False, True)


@pytest.mark.parametrize("stack", harness.stacks())
def test_every_stack_file_plans(stack: str) -> None:
    graph = graph_for(stack)
    assert graph.exports["environment"] == stack
    assert graph.exports["clusterName"] == f"podium-{stack}"


def test_exports_so_far(aws_graph: harness.Graph) -> None:
    assert set(aws_graph.exports) == COMMON_EXPORTS | AWS_ONLY_EXPORTS
    network = aws_graph.one("podium:network:Network")
    assert aws_graph.exports["vpcId"] == aws_graph.one("aws:ec2/vpc:Vpc").id
    assert aws_graph.exports["publicSubnetIds"] == network.outputs["publicSubnetIds"]
    assert aws_graph.exports["privateSubnetIds"] == network.outputs["privateSubnetIds"]
    assert aws_graph.exports["kubernetesVersion"] == stack_config(aws_graph.stack)["podium:kubernetesVersion"]
    assert aws_graph.secret_exports == {"kubeconfig", "tenantKubeconfigs"}
    # TLS is on: the app's address is https, as the WebApp component registered it.
    hostname = stack_config(aws_graph.stack)["podium:app"]["hostname"]
    assert aws_graph.exports["appUrl"] == f"https://{hostname}" == aws_graph.one("podium:app:WebApp").outputs["url"]
    bootstrap = aws_graph.one("podium:cluster:ClusterBootstrap")
    assert aws_graph.exports["clusterEndpoint"] == bootstrap.outputs["endpoint"]
    assert aws_graph.exports["clusterCaCertificate"] == bootstrap.outputs["caCertificate"]
    assert (
        aws_graph.exports["nodeSecurityGroupId"]
        == aws_graph.one("aws:ec2/securityGroup:SecurityGroup", "cluster-nodes").id
    )


def test_existing_mode_creates_nothing_on_aws_and_exports_no_aws_names() -> None:
    graph = graph_for("local")
    assert [r for r in graph.resources if r.type.startswith(("aws:", "pulumi:providers:aws"))] == []
    assert set(graph.exports) == COMMON_EXPORTS


@pytest.mark.usefixtures("plan_reuses_runs")
def test_plan_prints_the_tree_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["prod"]) == 0
    out = capsys.readouterr().out
    assert "  - podium:network:Network network\n    - aws:cloudwatch/logGroup:LogGroup network-flow-logs" in out
    assert re.search(r"\n  aws:ec2/natGateway:NatGateway +3\n", out)
    assert re.search(r"\n  aws:ec2/subnet:Subnet +6\n", out)
    assert re.search(r"\n  aws:ec2/instance:Instance +3\n", out)
    assert "- aws:ec2/instance:Instance cluster-control-plane-0 [protected]" in out
    assert "- podium:nodes:NodeGroup pool-general" in out
    assert "clusterCaCertificate: -----BEGIN CERTIFICATE----- ... (" in out
    assert "kubeconfig: [secret]" in out


def test_plan_of_an_invalid_stack_exits_non_zero(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path_factory.mktemp("project")
    config = stack_config("dev")
    config["podium:network"]["cidr"] = "10.0.0.0/33"
    (root / "Pulumi.broken.yaml").write_text(yaml.safe_dump({"config": config}))
    (root / "__main__.py").write_text((harness.ROOT / "__main__.py").read_text())
    monkeypatch.setattr(harness, "ROOT", root)
    assert plan.main(["broken"]) == 1
    err = capsys.readouterr().err
    assert "podium:network.cidr: '10.0.0.0/33' is not an IPv4 CIDR" in err
    assert "resources registered before the failure: 0" in err


def test_plan_of_an_unknown_stack_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["nosuchstack"]) == 2
    assert "no stack file Pulumi.nosuchstack.yaml" in capsys.readouterr().err


def test_pulumi_yaml_is_generated_from_settings() -> None:
    assert configdoc.PULUMI_YAML.read_text() == configdoc.pulumi_yaml(), "run `make docs`"


def test_config_reference_is_generated_from_settings() -> None:
    text = configdoc.CONFIGURATION.read_text()
    assert text == configdoc.generated(configdoc.CONFIGURATION, text), "run `make docs`"


def test_the_minimum_cli_is_the_one_the_readme_names() -> None:
    readme = (configdoc.ROOT / "README.md").read_text()
    assert f"Pulumi CLI](https://www.pulumi.com/docs/install/) {configdoc.MINIMUM_PULUMI_CLI} or newer" in readme
    assert f"Needs Pulumi CLI {configdoc.MINIMUM_PULUMI_CLI} or newer" in configdoc.PULUMI_YAML.read_text()


def test_pulumi_yaml_declares_only_types_pulumi_accepts() -> None:
    project = yaml.safe_load(configdoc.PULUMI_YAML.read_text())
    assert project["name"] == "podium"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    for key, declaration in project["config"].items():
        assert declaration["type"] in {"string", "integer", "boolean"}, key
        assert set(declaration) <= {"type", "description", "default", "secret", "items"}, key
    documented = configdoc.PULUMI_YAML.read_text()
    for key, *_ in configdoc.reference_rows():
        assert key in documented, f"{key} is not documented in Pulumi.yaml"
