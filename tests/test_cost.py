"""The cost guard: the budget a stack declares (an AWS budget), the plan's estimate against
it, the policy pack's rule over real graphs, the estimate as JSON, and the Markdown a pull
request gets from the estimates of two revisions. Two extra program runs: dev with one
pool one node larger and a budget far below its estimate, and its preview."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.platform import ingress, monitoring
from policy import cost_model, podium_policies
from tests.conftest import graph_for, preview_graph_for, stack_config
from tools import cost, cost_diff, harness, policy_check, tfplan

ROOT = Path(__file__).resolve().parent.parent
BUDGET = cost_model.BUDGET
BUDGET_USD = 10  # below any AWS stack's estimate
ALERT_EMAIL = "platform@example.com"
GROWN_POOL = 0  # dev's first pool, one node larger in the crafted head


def grown_config() -> dict[str, Any]:
    config = stack_config("dev")
    pool = config["podium:nodePools"][GROWN_POOL]
    assert not pool.get("zonal"), "the hand computation below is for a pool of one group"
    pool["desired"] += 1
    pool["max"] = max(pool["max"], pool["desired"])
    config["podium:budget"] = {"monthlyUsd": BUDGET_USD, "alertEmails": [ALERT_EMAIL]}
    return config


@cache
def grown() -> harness.Graph:
    """dev, one node more in its first pool, with a budget it exceeds."""
    return harness.run("dev", grown_config())


def with_limit(graph: harness.Graph, limit: str) -> harness.Graph:
    """The graph with its budget's limit changed, as declared and as AWS holds it."""

    def changed(resource: harness.Resource) -> harness.Resource:
        if resource.type != BUDGET:
            return resource
        return dataclasses.replace(
            resource,
            inputs={**resource.inputs, "limitAmount": limit},
            state={**resource.state, "limitAmount": limit},
        )

    return dataclasses.replace(graph, resources=[changed(r) for r in graph.resources])


def budget_messages(graph: harness.Graph) -> list[str]:
    verdict = policy_check.evaluate(graph, [p for p in podium_policies.POLICIES if p.name == "estimate-within-budget"])
    assert verdict.unknown == []
    return [f.message for f in verdict.violations]


# -- the setting declares a budget ---------------------------------------------------------


def test_the_budget_is_an_aws_monthly_cost_budget_on_the_stacks_tags() -> None:
    graph = grown()
    budget = graph.one(BUDGET)
    assert budget.inputs == {
        "name": "podium-dev",
        "budgetType": "COST",
        "timeUnit": "MONTHLY",
        "limitAmount": f"{BUDGET_USD:.2f}",
        "limitUnit": "USD",
        "costFilters": [
            {"name": "TagKeyValue", "values": ["user:environment$dev", "user:kubernetes.io/cluster/podium-dev$owned"]}
        ],
        "notifications": [
            {
                "comparisonOperator": "GREATER_THAN",
                "threshold": 100,
                "thresholdType": "PERCENTAGE",
                "notificationType": kind,
                "subscriberEmailAddresses": [ALERT_EMAIL],
            }
            for kind in ("ACTUAL", "FORECASTED")
        ],
    }
    component = next(r for r in graph.resources if r.urn == budget.parent)
    assert (component.type, component.name) == ("podium:cost:CostBudget", "budget")
    # The filter's first tag is one the provider puts on everything Pulumi creates.
    (provider,) = [r for r in graph.of_type("pulumi:providers:aws") if r.urn == budget.provider_urn]
    assert json.loads(provider.inputs["defaultTags"])["tags"]["environment"] == "dev"
    # The shipped dev stack has the same budget resources, by the same identities.
    assert {component.urn, budget.urn} <= {r.urn for r in graph_for("dev").resources}


def test_the_budget_exports_to_the_terraform_plan_the_scanners_read() -> None:
    plan = tfplan.terraform_plan(grown())
    (change,) = [c for c in plan["resource_changes"] if c["type"] == "aws_budgets_budget"]
    after = change["change"]["after"]
    assert after["cost_filter"] == [
        {"name": "TagKeyValue", "values": ["user:environment$dev", "user:kubernetes.io/cluster/podium-dev$owned"]}
    ]
    assert [n["notification_type"] for n in after["notification"]] == ["ACTUAL", "FORECASTED"]


# -- the plan and the pack measure the same estimate against it ---------------------------


def test_over_its_budget_the_stack_fails_the_policy_naming_the_total_and_the_three_largest_costs() -> None:
    estimate = cost.estimate(grown())
    (message,) = budget_messages(grown())
    total, over = estimate.total, estimate.total - BUDGET_USD
    assert message.startswith(
        f"budget {BUDGET_USD:.2f} a month: the estimate {total:.2f} is {over:.2f} OVER it "
        f"({100 * total / BUDGET_USD:.0f}% of the budget). Largest costs: "
    )
    largest = sorted(estimate.items, key=lambda i: -i.monthly)[:3]
    named = "; ".join(f"{i.component}: {i.what} {i.monthly:.2f}" for i in largest)
    assert f"Largest costs: {named}." in message
    # The plan prints the same standing.
    rendered = "\n".join(cost.render(estimate))
    assert f"\n  budget {BUDGET_USD:.2f} a month: the estimate {total:.2f} is {over:.2f} OVER it" in rendered


def test_the_first_preview_of_a_stack_over_its_budget_already_fails() -> None:
    """In a preview, ids and computed outputs are unknown; nothing the estimate reads is."""
    preview = harness.run("dev", grown_config(), preview=True)
    (message,) = budget_messages(preview)
    assert f"the estimate {cost.estimate(grown()).total:.2f} is" in message


def test_within_its_budget_the_stack_passes() -> None:
    total = cost.estimate(grown()).total
    within = with_limit(grown(), f"{total + 0.01:.2f}")
    assert budget_messages(within) == []
    rendered = "\n".join(cost.render(cost.estimate(within)))
    assert f"the estimate {total:.2f} is 0.01 under it (100% of the budget)" in rendered


def test_the_rule_reads_the_outputs_whatever_the_autoscaler_made_of_a_group() -> None:
    """A stack rule sees the live group: its desired capacity counts, not the program's."""
    graph = with_limit(grown(), f"{cost.estimate(grown()).total + 1:.2f}")
    assert budget_messages(graph) == []
    groups = [r for r in graph.resources if r.type == "aws:autoscaling/group:Group"]
    group = next(g for g in groups if g.state["desiredCapacity"])
    live = dataclasses.replace(group, state={**group.state, "desiredCapacity": group.state["desiredCapacity"] + 1})
    scaled = dataclasses.replace(graph, resources=[live if r is group else r for r in graph.resources])
    (message,) = budget_messages(scaled)
    assert "OVER it" in message


def test_an_unpriced_instance_fails_the_budget_even_under_it_and_is_named() -> None:
    graph = with_limit(grown(), "1000000.00")
    templates = [r for r in graph.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"]
    template = templates[0]
    unpriced = dataclasses.replace(
        template, state={**template.state, "instanceType": "x9z.huge"}, inputs=template.inputs
    )
    graph = dataclasses.replace(graph, resources=[unpriced if r is template else r for r in graph.resources])
    (message,) = budget_messages(graph)
    assert "but only without what has no list price: EC2 x9z.huge" in message
    assert "Add its price to policy/aws-prices-us-east-1.yaml" in message


def test_a_stack_without_a_budget_is_not_judged() -> None:
    graph = graph_for("dev")
    without = dataclasses.replace(graph, resources=[r for r in graph.resources if r.type != BUDGET])
    assert cost.estimate(without).budget is None
    assert budget_messages(without) == []


def test_the_pack_runs_the_cost_model_with_nothing_of_podiums() -> None:
    """`pulumi preview --policy-pack policy` imports the pack from its own directory, in a
    virtualenv with policy/requirements.txt only: no harness, no components, no
    pulumi-aws; the price table sits beside it."""
    probe = (
        "import sys, podium_policies, cost_model\n"
        "podium = {m.split('.')[0] for m in sys.modules} & {'tools', 'components', 'pulumi_aws', 'pulumi_kubernetes'}\n"
        "assert not podium, podium\n"
        "assert cost_model.price_table()['asOf']\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT / "policy", capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    requirements = (ROOT / "policy" / "requirements.txt").read_text()
    assert "PyYAML>=" in requirements and "pulumi-policy>=" in requirements


def test_the_cost_model_and_the_program_name_the_same_releases() -> None:
    assert cost_model.PROMETHEUS_RELEASE == monitoring.RELEASE
    for stack in ("dev", "prod", "local"):
        releases = {r.inputs.get("name"): r for r in graph_for(stack).of_type("kubernetes:helm.sh/v3:Release")}
        values = releases[cost_model.INGRESS_RELEASE].inputs["values"]
        assert cost_model.ingress_service_type(values) == ingress.service_type(values)
    cluster_ip = {"service": {"spec": {"type": "ClusterIP"}}}
    assert cost_model.ingress_service_type(cluster_ip) == ingress.service_type(cluster_ip) == "ClusterIP"


# -- the estimate as JSON, and two of them compared ----------------------------------------------

KEYS = {
    "format": int,
    "stack": str,
    "currency": str,
    "prices": dict,
    "total": float,
    "eksEquivalent": float,
    "ceiling": float,
    "components": dict,
    "items": list,
    "pools": list,
    "unpriced": list,
    "usagePriced": list,
}
ITEM = {"key": str, "component": str, "what": str, "monthly": (int, float), "assumption": str}
POOL = {
    "component": str,
    "what": str,
    "minNodes": int,
    "maxNodes": int,
    "initialNodes": int,
    "minMonthly": (int, float),
    "maxMonthly": (int, float),
}


def as_read(estimate: cost.Estimate, stack: str) -> dict[str, Any]:
    """The JSON as the comparison reads it back from the file."""
    return json.loads(json.dumps(cost.as_json(estimate, stack)))


def test_the_json_has_its_documented_keys_and_types() -> None:
    data = as_read(cost.estimate(graph_for("dev")), "dev")
    assert {k: type(v) for k, v in data.items() if k != "budget"} == KEYS and "budget" in data
    assert data["format"] == cost.JSON_FORMAT and data["currency"] == "USD"
    assert set(data["prices"]) == {"region", "asOf", "hoursPerMonth"}
    for item in data["items"]:
        assert set(item) == set(ITEM) and all(isinstance(item[k], t) for k, t in ITEM.items()), item
    assert len({i["key"] for i in data["items"]}) == len(data["items"]), "a key names one line"
    for pool in data["pools"]:
        assert set(pool) == set(POOL) and all(isinstance(pool[k], t) for k, t in POOL.items()), pool
    assert all(isinstance(u, str) for u in data["unpriced"] + data["usagePriced"])
    assert data["total"] == pytest.approx(sum(i["monthly"] for i in data["items"]), abs=0.01 * len(data["items"]))
    assert data["total"] == pytest.approx(sum(data["components"].values()), abs=0.01 * len(data["components"]))
    budget = as_read(cost.estimate(grown()), "dev")["budget"]
    assert budget == {
        "monthlyUsd": float(BUDGET_USD),
        "difference": pytest.approx(cost.estimate(grown()).total - BUDGET_USD, abs=0.005),
        "percent": pytest.approx(100 * cost.estimate(grown()).total / BUDGET_USD, abs=0.05),
        "over": True,
    }


def test_the_comment_shows_the_difference_between_two_plans_computed_from_the_price_table() -> None:
    base, head = as_read(cost.estimate(graph_for("dev")), "dev"), as_read(cost.estimate(grown()), "dev")
    text = cost_diff.comment({"dev": base}, {"dev": head})
    # By hand: one more node of the pool, its instance (at the spot fraction if spot) and its root volume.
    pool = stack_config("dev")["podium:nodePools"][GROWN_POOL]
    prices = cost.price_table()
    instance = prices["ec2PerHour"][pool["instanceType"]] * prices["hoursPerMonth"]
    if pool.get("spot"):
        instance *= prices["assumptions"]["spotFractionOfOnDemand"]
    root = pool["rootVolumeGb"] * prices["ebs"]["gp3PerGbMonth"]
    desired, kind = pool["desired"], pool["instanceType"] + (" spot" if pool.get("spot") else "")
    assert head["total"] - base["total"] == pytest.approx(instance + root, abs=0.01)
    difference = head["total"] - base["total"]
    percent = 100 * difference / base["total"]
    assert text.startswith(cost_diff.MARKER + "\n")
    assert (
        f"| dev | {base['total']:,.2f} | {head['total']:,.2f} | {difference:+,.2f} ({percent:+.1f}%) | "
        f"{BUDGET_USD:.2f}: **over** by {head['total'] - BUDGET_USD:,.2f} ({100 * head['total'] / BUDGET_USD:.0f}%) |"
    ) in text
    component = f"pool-{pool['name']}"
    assert (
        f"| {component} | {desired} x {kind} → {desired + 1} x {kind} | {desired * instance:,.2f} | "
        f"{(desired + 1) * instance:,.2f} | {instance:+,.2f} |"
    ) in text
    size = pool["rootVolumeGb"]
    assert (
        f"| {component} | {desired} x {size} GiB gp3 root → {desired + 1} x {size} GiB gp3 root | "
        f"{desired * root:,.2f} | {(desired + 1) * root:,.2f} | {root:+,.2f} |"
    ) in text
    shipped = stack_config("dev")["podium:budget"]["monthlyUsd"]
    assert f"- budget: {shipped:.2f} → 10.00\n" in text
    assert "- over its budget of 10.00 by" in text and "the policy pack fails this stack's preview" in text
    # Only the grown pool's two lines changed.
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows] == ["| stack", "| dev", "| component", f"| {component}", f"| {component}"]


def test_the_comparison_reads_the_plans_files_and_says_what_it_could_not_compare(tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    head.mkdir()
    (head / "dev.json").write_text(json.dumps(cost.as_json(cost.estimate(graph_for("dev")), "dev")))
    prod = cost.as_json(cost.estimate(graph_for("prod")), "prod")
    (head / "prod.json").write_text(json.dumps(prod))
    out = tmp_path / "comment.md"
    # The first pull request after --cost-json: the base's plan wrote nothing.
    assert cost_diff.main([str(base), str(head), "--out", str(out)]) == 0
    text = out.read_text()
    budget = prod["budget"]["monthlyUsd"]
    assert (
        f"| prod | n/a | {prod['total']:,.2f} | n/a | {budget:.2f}: {round(100 * prod['total'] / budget)}% of it |"
        in text
    )
    assert "No estimate from the base commit for dev, prod: its plan failed, or it predates `--cost-json`" in text
    # A base of another format is named, not compared.
    base.mkdir()
    (base / "dev.json").write_text(json.dumps({**prod, "stack": "dev", "format": 0}))
    assert cost_diff.main([str(base), str(head), "--out", str(out)]) == 0
    assert "Not read: base dev: dev.json is format 0, this comparison reads format 1." in out.read_text()
    # Equal estimates: a row, and no details.
    assert cost_diff.main([str(head / "prod.json"), str(head / "prod.json"), "--out", str(out)]) == 0
    text = out.read_text()
    row = f"| prod | {prod['total']:,.2f} | {prod['total']:,.2f} | 0.00 | {budget:.2f}: {round(100 * prod['total'] / budget)}% of it |"
    assert row in text and "### " not in text


def test_an_estimate_copied_is_compared_as_equal() -> None:
    data = as_read(cost.estimate(graph_for("prod")), "prod")
    assert cost_diff.changed_lines(data, copy.deepcopy(data)) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_preview_over_its_budget_fails_with_the_total_and_the_top_three(stack: str) -> None:
    """At preview the subnet ids are unknown and the groups' sizes are the declared ones:
    the estimate is still complete, so the rule judges it (tests/test_policy.py checks the
    shipped budgets pass)."""
    graph = preview_graph_for(stack)
    estimate = cost.estimate(graph_for(stack))
    (message,) = budget_messages(with_limit(graph, "100.00"))
    assert f"{estimate.total:,.2f}" in message and "100.00" in message
    top = sorted(estimate.items, key=lambda item: -item.monthly)[:3]
    for item in top:
        assert f"{item.monthly:,.2f}" in message, item


def test_dev_with_everything_on_costs_at_most_120_a_month_and_60_percent_of_its_eks_equivalent() -> None:
    """Issue 22's target, on what the dev plan really declares: every add-on release as
    in prod (monitoring, logs, certificates, DNS, autoscaling), at a fraction of the
    price (the capacity check proves it fits: tests/test_capacity.py)."""
    dev, prod = graph_for("dev"), graph_for("prod")
    releases = {r.name for r in dev.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases == {r.name for r in prod.of_type("kubernetes:helm.sh/v3:Release")}
    estimate = cost.estimate(dev)
    assert estimate.eks_equivalent is not None
    assert estimate.total <= 120
    assert estimate.total <= 0.6 * estimate.eks_equivalent
    assert estimate.unpriced == []
