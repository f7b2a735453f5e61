"""Nodes that follow the load and leave drained: the cluster autoscaler as rendered, the
groups' tags and lifecycle hooks, the termination queue and its EventBridge rules
(matched against AWS's documented sample events), the two roles, and the database's
shutdown."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.app import manifests as m
from components.cluster import iam_policies
from components.cluster.functions import early_retirement
from components.cluster.userdata import script_of
from components.config import versions
from components.platform import autoscaling
from tests import eventbridge, netpol
from tests.conftest import graph_for, node_pool_resources, rendered_for, stack_config
from tests.test_iam_policies import lint, unexpected
from tools import cost, harness, helm_render

AWS_STACKS = ("dev", "staging", "prod")
ASG = "aws:autoscaling/group:Group"
HOOK = "aws:autoscaling/lifecycleHook:LifecycleHook"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
EVENTS = Path(__file__).parent / "data" / "eventbridge"


def deployment(stack: str, release: str) -> dict[str, Any]:
    (found,) = rendered_for(stack)[release].of_kind("Deployment")
    return found


def container_of(found: dict[str, Any]) -> dict[str, Any]:
    (container,) = found["spec"]["template"]["spec"]["containers"]
    return container


def env_of(found: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container_of(found).get("env", [])}


def trust_subject(graph: harness.Graph, role: str) -> str:
    (statement,) = json.loads(graph.one(ROLE, role).inputs["assumeRolePolicy"])["Statement"]
    return next(v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub"))


def tags_of(group: harness.Resource) -> dict[str, str]:
    return {t["key"]: t["value"] for t in group.inputs["tags"]}


def pool_of(graph: harness.Graph, group: harness.Resource) -> str:
    """The pool a group belongs to: its NodeGroup parent's name, without `pool-`."""
    return group.parent.rsplit("::", 1)[1].removeprefix("pool-")


def join_registration(graph: harness.Graph, pool: str) -> dict[str, Any]:
    """What the pool's kubelets register, read from the JoinConfiguration in the user data."""
    script = script_of(graph.one("aws:ec2/launchTemplate:LaunchTemplate", f"pool-{pool}-template").inputs)
    match = re.search(r"^kubeadm_config='(.*?)'$", script, re.S | re.M)
    assert match, "no kubeadm config in the user data"
    (join,) = [d for d in yaml.safe_load_all(match.group(1)) if d["kind"] == "JoinConfiguration"]
    return join["nodeRegistration"]


# -- the cluster autoscaler, as rendered -----------------------------------------------------------------


@pytest.mark.parametrize(("stack", "image"), [("dev", "v1.35.2"), ("prod", "v1.35.2")])
def test_the_autoscaler_matches_the_minor_discovers_the_clusters_groups_and_uses_its_role(
    stack: str, image: str
) -> None:
    graph = graph_for(stack)
    cluster = graph.exports["clusterName"]
    found = deployment(stack, "cluster-autoscaler")
    container = container_of(found)
    assert container["image"] == f"registry.k8s.io/autoscaling/cluster-autoscaler:{image}"
    command = container["command"]
    assert (
        f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/{cluster}"
        in command
    )
    for flag in (
        "--cloud-provider=aws",
        "--expander=least-waste",
        "--balance-similar-node-groups=true",
        "--skip-nodes-with-local-storage=false",
    ):
        assert flag in command, flag
    pod = found["spec"]["template"]["spec"]
    # Its own role, by its service account's token: the account the role trusts.
    assert trust_subject(graph, "cluster-cluster-autoscaler") == (
        f"system:serviceaccount:kube-system:{pod['serviceAccountName']}"
    )
    env = env_of(found)
    assert env["AWS_ROLE_ARN"] == graph.one(ROLE, "cluster-cluster-autoscaler").state["arn"]
    assert env["AWS_REGION"] == "us-east-1"
    token_file = env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert token_file is not None
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    (volume,) = [v for v in pod["volumes"] if v["name"] in mounts and token_file.startswith(mounts[v["name"]])]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "sts.amazonaws.com"
    # On the control planes, never on a worker it may remove.
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (budget,) = rendered_for(stack)["cluster-autoscaler"].of_kind("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= found["spec"]["template"]["metadata"]["labels"].items()


def test_on_kubernetes_1_36_the_autoscaler_is_its_1_36_release() -> None:
    """The chart's default image is v1.35.0: the tag must follow the cluster's minor."""
    values = autoscaling.cluster_autoscaler_values("podium-x", "1.36.4", "us-east-1", "arn:aws:iam::1:role/ca")
    (found,) = [
        o
        for o in helm_render.template(
            versions.pinned_chart("clusterAutoscaler").package.removeprefix("./"),
            release="cluster-autoscaler",
            namespace="kube-system",
            values=values,
            kube_version="1.36.4",
        )
        if o["kind"] == "Deployment"
    ]
    assert container_of(found)["image"] == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.1"


def test_every_supported_minor_has_an_autoscaler_and_a_cloud_controller_release() -> None:
    for minor in versions.newest_patches():
        assert versions.cluster_autoscaler_image_tag(minor).startswith(f"v{minor}.")
        assert versions.cloud_controller_image_tag(minor).startswith(f"v{minor}.")
    with pytest.raises(KeyError):
        versions.cluster_autoscaler_image_tag("1.37")  # none was published when the data was read


# -- the groups' tags and hooks --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_group_carries_both_discovery_tags_and_the_node_template_its_kubelets_register(stack: str) -> None:
    graph = graph_for(stack)
    cluster = graph.exports["clusterName"]
    groups = node_pool_resources(graph, ASG)
    assert groups
    template_prefix = "k8s.io/cluster-autoscaler/node-template/"
    for group in groups:
        tags = tags_of(group)
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert tags[f"k8s.io/cluster-autoscaler/{cluster}"] == "owned"
        registration = join_registration(graph, pool_of(graph, group))
        (labels_arg,) = [a["value"] for a in registration["kubeletExtraArgs"] if a["name"] == "node-labels"]
        labels = dict(pair.split("=", 1) for pair in labels_arg.split(","))
        taints = {t["key"]: f"{t.get('value', '')}:{t['effect']}" for t in registration.get("taints", [])}
        template = {k.removeprefix(template_prefix): v for k, v in tags.items() if k.startswith(template_prefix)}
        assert {k.removeprefix("label/"): v for k, v in template.items() if k.startswith("label/")} == labels
        assert {k.removeprefix("taint/"): v for k, v in template.items() if k.startswith("taint/")} == taints
        # Longer than a refresh's replacement stays empty (warm-up of 600 s, then the drain).
        assert template["autoscaling-options/scaledownunneededtime"] == "30m0s"
        # The autoscaler's tags stay on the group; instances carry their pool (the
        # termination handler's mark of a worker), as they always have.
        launched = {t["key"]: t["value"] for t in group.inputs["tags"] if t["propagateAtLaunch"]}
        assert not [k for k in launched if k.startswith("k8s.io/")], group.name
        assert launched["podium/pool"] == pool_of(graph, group)
    db = [g for g in groups if pool_of(graph, g) == "db"]
    assert db and all(tags_of(g)[template_prefix + "taint/podium/dedicated"] == "db:NoSchedule" for g in db)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_settings_count_every_tag_a_group_carries(stack: str) -> None:
    """The 50-tag check in settings counts what the groups really carry."""
    from components.config.settings import PODIUM_GROUP_TAGS, RESERVED_TAG_KEYS

    config = stack_config(stack)
    pools = {p["name"]: p for p in config["podium:nodePools"]}
    graph = graph_for(stack)
    for group in node_pool_resources(graph, ASG):
        pool = pools[pool_of(graph, group)]
        expected = len(config.get("podium:tags", {})) + len(RESERVED_TAG_KEYS) + PODIUM_GROUP_TAGS
        assert len(group.inputs["tags"]) == expected + len(pool["labels"]) + len(pool["taints"]), group.name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_group_holds_terminating_instances_longer_than_the_slowest_drain(stack: str) -> None:
    graph = graph_for(stack)
    hooks = {h.inputs["autoscalingGroupName"]: h.inputs for h in graph.of_type(HOOK)}
    groups = node_pool_resources(graph, ASG)
    assert set(hooks) == {g.state["name"] for g in groups}
    handler = env_of(deployment(stack, "aws-node-termination-handler"))
    drain = int(str(handler["NODE_TERMINATION_GRACE_PERIOD"]))
    # Every pod that can run on a worker, as deployed: the program's own workloads, the
    # charts' rendered ones, and the pods the Prometheus operator makes (600 s and 120 s
    # when their resources name none). Its own shutdown and, for a pod whose budget waits
    # on a replacement, a new node's boot (5 minutes) must fit in the drain.
    graces = {name: spec.get("terminationGracePeriodSeconds", 30) for name, spec in _pod_specs(stack).items()}
    operator_defaults = {"Prometheus": 600, "Alertmanager": 120}
    for release in rendered_for(stack).values():
        for kind, default in operator_defaults.items():
            for resource in release.of_kind(kind):
                graces[f"{kind}/{resource['metadata']['name']}"] = resource["spec"].get(
                    "terminationGracePeriodSeconds", default
                )
    assert len(graces) > 15
    longest = max(graces, key=graces.__getitem__)
    assert drain >= 5 * 60 + graces[longest], (longest, graces[longest])
    for hook in hooks.values():
        assert hook["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook["defaultResult"] == "CONTINUE"  # a stuck drain delays a termination, never blocks it
        assert hook["heartbeatTimeout"] > drain
    # The queue keeps an event as long as the hook holds its instance.
    assert graph.one(QUEUE).inputs["messageRetentionSeconds"] >= max(h["heartbeatTimeout"] for h in hooks.values())


def _pod_specs(stack: str) -> dict[str, dict[str, Any]]:
    """Pod specs by owner, from the program's workloads and the rendered charts."""
    kinds = ("Deployment", "StatefulSet", "DaemonSet")
    specs = {
        f"{r.type.rsplit(':', 1)[1]}/{r.inputs['metadata']['name']}": r.inputs["spec"]["template"]["spec"]
        for r in graph_for(stack).resources
        if r.type.rsplit(":", 1)[-1] in kinds and r.type.startswith("kubernetes:apps/")
    }
    for release in rendered_for(stack).values():
        for obj in release.objects:
            if obj["kind"] in kinds:
                specs[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    return specs


def test_non_zonal_pools_keep_their_urns_and_a_zonal_pool_keeps_its_first_group() -> None:
    urns = {g.urn for g in node_pool_resources(graph_for("dev"), ASG)}
    before = "urn:pulumi:dev::podium::podium:nodes:NodeGroup$aws:autoscaling/group:Group::"
    # pool-general and, for the database's pool turned zonal, its first group: as they were.
    assert {before + "pool-general-asg", before + "pool-db-asg", before + "pool-db-asg-2"} == urns
    groups = {g.name: g for g in node_pool_resources(graph_for("dev"), ASG)}
    assert groups["pool-db-asg"].inputs["namePrefix"] == "podium-dev-db-"
    assert groups["pool-db-asg-2"].inputs["namePrefix"] == "podium-dev-db-2-"


def test_turning_a_pool_zonal_splits_it_by_az_with_its_bounds_each() -> None:
    """The first group (the pool's old one) goes where firstAzSlot says (here the third
    AZ; the shipped stacks show slot 0): an existing pool keeps its nodes in their AZ."""
    first_slot, slots = 2, [2, 0, 1]
    config = stack_config("prod")
    general = config["podium:nodePools"][0]  # min 3, max 9, desired 3 across three AZs before
    # min is the pool's total: one per group.
    general.update({"zonal": True, "min": 3, "max": 3, "firstAzSlot": first_slot})
    graph = harness.run("prod", config)
    private = graph.exports["privateSubnetIds"]
    groups = {g.name: g.inputs for g in node_pool_resources(graph, ASG) if g.name.startswith("pool-general-")}
    names = ["pool-general-asg", "pool-general-asg-2", "pool-general-asg-3"]
    assert sorted(groups) == names
    for name, slot in zip(names, slots, strict=True):
        group = groups[name]
        assert group["vpcZoneIdentifiers"] == [private[slot]], name
        assert (group["minSize"], group["maxSize"], group["desiredCapacity"]) == (1, 3, 1)
    assert len(graph.of_type(HOOK)) == len(node_pool_resources(graph, ASG))


# -- the termination queue and its rules -----------------------------------------------------------------


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def rules_of(graph: harness.Graph, target_arn: str) -> dict[str, dict[str, Any]]:
    """The rules whose target is `target_arn`, by name."""
    targeted = {t.inputs["rule"] for t in graph.of_type(TARGET) if t.inputs["arn"] == target_arn}
    return {
        r.inputs["name"]: json.loads(r.inputs["eventPattern"])
        for r in graph.of_type(RULE)
        if r.inputs["name"] in targeted
    }


def matching(rules: dict[str, dict[str, Any]], event: dict[str, Any]) -> list[str]:
    return sorted(name for name, pattern in rules.items() if eventbridge.matches(pattern, event))


def test_every_sample_event_names_the_aws_page_it_was_taken_from() -> None:
    lines = (EVENTS / "SOURCES.md").read_text().splitlines()
    samples = sorted(EVENTS.glob("*.json"))
    assert len(samples) == 7
    for path in samples:
        (line,) = [x for x in lines if x.startswith(f"- `{path.name}`: ")]
        assert re.search(r"https://docs\.aws\.amazon\.com/\S+", line), path.name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_only_the_intended_documented_events_reach_the_queue(stack: str) -> None:
    graph = graph_for(stack)
    cluster = graph.exports["clusterName"]
    rules = rules_of(graph, graph.one(QUEUE).state["arn"])
    assert sorted(rules) == [f"{cluster}-asg-terminate", f"{cluster}-rebalance", f"{cluster}-spot-interruption"]
    assert matching(rules, sample("spot-interruption-warning")) == [f"{cluster}-spot-interruption"]
    assert matching(rules, sample("rebalance-recommendation")) == [f"{cluster}-rebalance"]
    # The documented termination names another group ("my-asg"): not this cluster's.
    terminate = sample("asg-terminate-lifecycle-action")
    assert matching(rules, terminate) == []
    for group in node_pool_resources(graph, ASG):
        ours = {**terminate, "detail": {**terminate["detail"], "AutoScalingGroupName": group.state["name"]}}
        assert matching(rules, ours) == [f"{cluster}-asg-terminate"], group.name
    launch = sample("asg-launch-lifecycle-action")
    launch["detail"]["AutoScalingGroupName"] = node_pool_resources(graph, ASG)[0].state["name"]
    others = (launch, sample("instance-state-change"), sample("health-scheduled-change-ec2"))
    for other in (*others, sample("health-other-service")):
        assert matching(rules, other) == [], other["detail-type"]


def test_scheduled_changes_go_to_the_function_that_replaces_workers_early() -> None:
    """AWS Health names the instance by its ARN (the documented sample); the handler
    v1.25.6 looks `entityValue` up as an instance id (scheduled-change-event.go) and would
    drop every such event: they go to the early-retirement function instead."""
    graph = graph_for("dev")
    cluster = graph.exports["clusterName"]
    function = graph.one("aws:lambda/function:Function")
    rules = rules_of(graph, function.state["arn"])
    assert list(rules) == [f"{cluster}-scheduled-change"]
    assert matching(rules, sample("health-scheduled-change-ec2")) == [f"{cluster}-scheduled-change"]
    for other in ("health-other-service", "spot-interruption-warning", "asg-terminate-lifecycle-action"):
        assert matching(rules, sample(other)) == [], other
    (entity,) = sample("health-scheduled-change-ec2")["detail"]["affectedEntities"]
    assert entity["entityValue"].startswith("arn:aws:ec2:") and ":instance/i-" in entity["entityValue"]
    # EventBridge may invoke it, for that rule only.
    (permission,) = graph.of_type("aws:lambda/permission:Permission")
    (rule,) = [r for r in graph.of_type(RULE) if r.inputs["name"] == f"{cluster}-scheduled-change"]
    assert (permission.inputs["principal"], permission.inputs["sourceArn"]) == (
        "events.amazonaws.com",
        rule.state["arn"],
    )
    assert permission.inputs["function"] == function.state["name"]
    groups = sorted(g.state["name"] for g in node_pool_resources(graph, ASG))
    assert sorted(json.loads(function.inputs["environment"]["variables"]["GROUP_NAMES"])) == groups
    assert function.inputs["handler"] == "early_retirement.handler"
    # What is deployed is the module tested below, byte for byte.
    source = Path(early_retirement.__file__)
    assert function.inputs["code"] == {
        "archive": {source.name: {"path": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}}
    }
    # It runs as its own role, which only Lambda may assume, writing only its own log group.
    role = graph.one(ROLE, "termination-early-retirement")
    assert function.inputs["role"] == role.state["arn"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    document = json.loads(graph.one(ROLE_POLICY, "termination-early-retirement").inputs["policy"])
    (logs_statement,) = [s for s in document["Statement"] if s["Sid"] == "WriteItsLogs"]
    # Its logs: a group of the cluster's key, which the key policy lets CloudWatch Logs use.
    (logs,) = [
        g
        for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] == f"/aws/lambda/{function.inputs['name']}"
    ]
    key = graph.one("aws:kms/key:Key")
    assert logs.inputs["kmsKeyId"] == key.state["arn"]
    assert logs_statement["Resource"] == f"{logs.state['arn']}:log-stream:*"
    (statement,) = [s for s in json.loads(key.inputs["policy"])["Statement"] if s["Principal"].get("Service")]
    assert logs.state["arn"] in statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]


class FakeAutoScaling:
    """What the function asks Auto Scaling, answered from a table of instances."""

    def __init__(self, instances: dict[str, tuple[str, str]]) -> None:
        self.instances = instances  # id -> (group, lifecycle state)
        self.terminated: list[tuple[str, bool]] = []
        self.lookups: list[int] = []

    def describe_auto_scaling_instances(self, InstanceIds: list[str]) -> dict[str, Any]:
        assert len(InstanceIds) <= 50, "AWS refuses more than 50 ids"
        self.lookups.append(len(InstanceIds))
        return {
            "AutoScalingInstances": [
                {"InstanceId": i, "AutoScalingGroupName": self.instances[i][0], "LifecycleState": self.instances[i][1]}
                for i in InstanceIds
                if i in self.instances
            ]
        }

    def terminate_instance_in_auto_scaling_group(self, InstanceId: str, ShouldDecrementDesiredCapacity: bool) -> None:
        self.terminated.append((InstanceId, ShouldDecrementDesiredCapacity))


def test_the_function_replaces_only_the_clusters_workers_in_service_keeping_the_groups_size() -> None:
    event = sample("health-scheduled-change-ec2")
    ours = "i-1234567890abcdef0"  # the documented event's instance, by its ARN
    client = FakeAutoScaling({ours: ("podium-dev-general-a1", "InService")})
    assert early_retirement.replace_early(event, client, {"podium-dev-general-a1"}) == [ours]
    assert client.terminated == [(ours, False)]  # through the group, which launches a replacement
    # Another cluster's group, an instance already leaving, a control plane (in no group): left alone.
    for instances in (
        {ours: ("other-cluster-general", "InService")},
        {ours: ("podium-dev-general-a1", "Terminating:Wait")},
        {},
    ):
        client = FakeAutoScaling(instances)
        assert early_retirement.replace_early(event, client, {"podium-dev-general-a1"}) == []
        assert client.terminated == []
    # A bare instance id works too; something that is not an instance is skipped.
    bare = {"detail": {"affectedEntities": [{"entityValue": ours}, {"entityValue": "vol-0abc"}]}}
    assert early_retirement.instance_ids(bare) == [ours]
    # Once AWS closes the event, or resolves the instance's part, nothing is replaced.
    closed = {**event, "detail": {**event["detail"], "statusCode": "closed"}}
    (entity,) = event["detail"]["affectedEntities"]
    resolved = {**event, "detail": {**event["detail"], "affectedEntities": [{**entity, "status": "RESOLVED"}]}}
    assert early_retirement.instance_ids(closed) == [] == early_retirement.instance_ids(resolved)
    # More instances than one lookup takes: asked in batches of 50.
    many = {"detail": {"affectedEntities": [{"entityValue": f"i-{n:017x}"} for n in range(120)]}}
    client = FakeAutoScaling({f"i-{n:017x}": ("podium-dev-general-a1", "InService") for n in range(120)})
    assert len(early_retirement.replace_early(many, client, {"podium-dev-general-a1"})) == 120
    assert client.lookups == [50, 50, 20]


def test_the_matcher_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="only lists of exact values"):
        eventbridge.matches({"source": [{"prefix": "aws."}]}, {"source": "aws.ec2"})
    assert not eventbridge.matches({"detail": {"a": ["x"]}}, {"detail": {"a": "y"}})
    assert eventbridge.matches({"resources": ["r1"]}, {"resources": ["r0", "r1"]})


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_queue_is_encrypted_and_admits_only_this_stacks_rules(stack: str) -> None:
    graph = graph_for(stack)
    queue = graph.one(QUEUE)
    assert queue.inputs["sqsManagedSseEnabled"] is True
    rule_arns = sorted(
        r.state["arn"] for r in graph.of_type(RULE) if r.inputs["name"] in rules_of(graph, queue.state["arn"])
    )
    assert len(rule_arns) == 3
    (policy,) = [p.inputs for p in graph.of_type("aws:sqs/queuePolicy:QueuePolicy")]
    assert policy["queueUrl"] == queue.state["url"]
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == queue.state["arn"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arns}}
    targets = {
        t.inputs["rule"]: t.inputs["arn"] for t in graph.of_type(TARGET) if t.inputs["arn"] == queue.state["arn"]
    }
    assert sorted(targets) == sorted(rules_of(graph, queue.state["arn"]))


# -- the handler, as rendered ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_handler_drains_by_eviction_from_the_queue_for_this_clusters_nodes(stack: str) -> None:
    """aws-node-termination-handler v1.25.6 drains with kubectl's drain helper through the
    eviction API (pkg/node/node.go): PodDisruptionBudgets hold it; no setting turns it
    into deletion. What is checked here is what the rendered Deployment tells it."""
    graph = graph_for(stack)
    rendered = rendered_for(stack)["aws-node-termination-handler"]
    assert not rendered.of_kind("DaemonSet")  # queue mode only: no pod reads instance metadata
    found = deployment(stack, "aws-node-termination-handler")
    env = env_of(found)
    expected = {
        "ENABLE_SQS_TERMINATION_DRAINING": "true",
        "QUEUE_URL": graph.one(QUEUE).state["url"],
        "AWS_REGION": "us-east-1",
        "CORDON_ONLY": "false",  # cordon, then drain
        "TAINT_NODE": "true",
        "POD_TERMINATION_GRACE_PERIOD": "-1",  # each pod's own grace period
        "IGNORE_DAEMON_SETS": "true",
        "DELETE_LOCAL_DATA": "true",
        "CHECK_TAG_BEFORE_DRAINING": "true",
        "MANAGED_TAG": "podium/pool",
        # By name (Podium's nodes are named by their private DNS name, as the handler looks
        # them up), so that an instance that never joined is released at once.
        "USE_PROVIDER_ID": "false",
        "DELETE_SQS_MSG_IF_NODE_NOT_FOUND": "true",
        "DRY_RUN": "false",
    }
    assert {k: env.get(k) for k in expected} == expected
    # In queue mode the chart passes no per-event switch: every queued event is drained,
    # so the EventBridge rules alone choose the events (tested above on AWS's samples).
    assert [k for k in env if k.startswith("ENABLE_") and k.endswith(("_DRAINING", "_MONITORING"))] == [
        "ENABLE_SQS_TERMINATION_DRAINING"
    ]
    # The tag it checks is on every instance the groups launch (their launch templates
    # too, so on workers launched before the handler existed), and not on the control planes.
    for group in node_pool_resources(graph, ASG):
        launched = {t["key"] for t in group.inputs["tags"] if t["propagateAtLaunch"]}
        assert "podium/pool" in launched, group.name
    for template in node_pool_resources(graph, "aws:ec2/launchTemplate:LaunchTemplate"):
        (instance,) = [s["tags"] for s in template.inputs["tagSpecifications"] if s["resourceType"] == "instance"]
        assert "podium/pool" in instance, template.name
    for control_plane in graph.of_type("aws:ec2/instance:Instance"):
        assert "podium/pool" not in (control_plane.inputs.get("tags") or {}), control_plane.name
    # Nodes are named as the handler looks them up: by the instance's private DNS name.
    gate = json.dumps(graph.one("pulumi-python:dynamic:Resource", "cluster-api-ready").inputs)
    assert all(i.state["privateDns"] in gate for i in graph.of_type("aws:ec2/instance:Instance"))
    pod = found["spec"]["template"]["spec"]
    (account,) = rendered.of_kind("ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    role = graph.one(ROLE, "termination-handler")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role.state["arn"]
    assert (
        trust_subject(graph, "termination-handler") == f"system:serviceaccount:kube-system:{pod['serviceAccountName']}"
    )
    assert pod["nodeSelector"]["node-role.kubernetes.io/control-plane"] == ""


def test_the_handler_starts_after_the_webhook_that_gives_it_its_role() -> None:
    graph = graph_for("dev")
    (release,) = [
        r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "aws-node-termination-handler"
    ]
    (webhook,) = [
        d for d in graph.of_type("kubernetes:apps/v1:Deployment") if d.name == "addons-identity-webhook-deployment"
    ]
    assert webhook.urn in release.dependencies


# -- the roles ------------------------------------------------------------------------------------------


def _policies(graph: harness.Graph) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(graph.one(ROLE_POLICY, name).inputs["policy"])
        for name in ("cluster-cluster-autoscaler", "termination-handler", "termination-early-retirement")
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_roles_are_parliament_clean_and_change_only_the_clusters_groups(stack: str) -> None:
    graph = graph_for(stack)
    cluster = graph.exports["clusterName"]
    tag = f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}"
    # The tag the conditions need is on every one of the cluster's groups.
    assert all(tags_of(g)[f"k8s.io/cluster-autoscaler/{cluster}"] == "owned" for g in node_pool_resources(graph, ASG))
    for name, document in _policies(graph).items():
        assert unexpected(lint(document), iam_policies.PARLIAMENT_ACCEPTED_FINDINGS) == [], name
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            mutating = [a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "Receive"))]
            mutating = [a for a in mutating if not a.startswith(("sqs:", "logs:"))]
            if mutating:
                assert statement["Condition"] == {"StringEquals": {tag: "owned"}}, (name, mutating)
    autoscaler = _policies(graph)["cluster-cluster-autoscaler"]
    changes = {a for s in autoscaler["Statement"] if "Condition" in s for a in s["Action"]}
    assert changes == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert "eks:DescribeNodegroup" not in json.dumps(autoscaler)
    handler = _policies(graph)["termination-handler"]
    (queue_statement,) = [s for s in handler["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
    assert queue_statement["Resource"] == graph.one(QUEUE).state["arn"]


# -- the database on a drained node ----------------------------------------------------------------------


def test_the_database_is_evicted_with_time_to_shut_down_and_never_moved_to_consolidate() -> None:
    graph = graph_for("dev")
    objects = {
        (r.type.split(":")[-1], r.inputs["metadata"]["name"]): r.inputs
        for r in graph.resources
        if r.type.startswith("kubernetes:")
        and "metadata" in r.inputs
        and isinstance(r.inputs.get("metadata"), dict)
        and "name" in r.inputs["metadata"]
    }
    database = objects[("StatefulSet", m.DB)]
    template = database["spec"]["template"]
    assert template["spec"]["terminationGracePeriodSeconds"] == m.DB_SHUTDOWN_SECONDS
    assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    budget = objects[("PodDisruptionBudget", m.DB)]["spec"]
    # The budget selects the database's pods and lets a drain evict the one replica:
    # a budget of 0 would hold the drain until the hook ran out and the node died under it.
    assert netpol.selects(budget["selector"], template["metadata"]["labels"])
    assert budget["maxUnavailable"] == 1


# -- what the autoscaler may spend -----------------------------------------------------------------------


def test_the_plan_shows_each_pools_cost_between_its_bounds() -> None:
    estimate = cost.estimate(graph_for("prod"))
    bounds = {p.component: p for p in estimate.pools}
    general, db = bounds["pool-general"], bounds["pool-db"]
    assert (general.min_nodes, general.max_nodes) == (3, 9)
    assert (db.min_nodes, db.max_nodes) == (1, 6)  # three zonal groups of 0..2, the first kept at 1
    assert general.max_monthly == pytest.approx(3 * general.min_monthly)
    assert db.max_monthly == pytest.approx(6 * db.min_monthly)
    assert estimate.ceiling == pytest.approx(
        estimate.total
        - sum(i.monthly for i in estimate.items if i.component in bounds)
        + general.max_monthly
        + db.max_monthly
    )
    rendered = "\n".join(cost.render(estimate))
    assert re.search(r"pool-general\s+m7i\.large\s+3 to 9\s+nodes", rendered)
    assert f"total with every pool at its maximum: {estimate.ceiling:.2f}" in rendered


def test_a_pool_may_rest_at_zero_and_is_scaled_up_from_its_node_template() -> None:
    """min 0 is valid (the shipped database pools' other groups rest there): the group may be emptied, and
    its tags describe the node the autoscaler would add. Only a stack whose untainted
    pools all start empty is refused (tests/test_settings.py: untainted-pools-start-empty)."""
    graph = graph_for("staging")
    empty = [g for g in node_pool_resources(graph, ASG) if g.name.startswith("pool-db-asg-")]
    assert empty and all((g.inputs["minSize"], g.inputs["desiredCapacity"]) == (0, 0) for g in empty)
    for group in empty:
        assert tags_of(group)["k8s.io/cluster-autoscaler/node-template/label/podium/pool"] == "db"
        assert tags_of(group)["k8s.io/cluster-autoscaler/node-template/taint/podium/dedicated"] == "db:NoSchedule"
