"""Offline plan: `python -m tools.plan <stack> [--out DIR] [--config FILE] [--cost-json FILE]`.

Runs the program for one stack under mocks (no AWS credentials, no Pulumi CLI) and prints
the resource tree, a count per resource type, the outputs, a monthly cost estimate, the
capacity check's table (tools/capacity.py) and the policy pack's verdict. Exit codes: 0
fine, 1 the program stopped (invalid config), 2 no such stack file, 3 mandatory policy
violations, 4 (CAPACITY_SHORT; 3 wins when both) a pool at its minimum size cannot hold
what the stack deploys. `--cost-json` writes the estimate as
JSON (tools/cost.py `as_json`; docs/development.md) whatever the verdict, for
tools/cost_diff.py to compare two revisions' estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import yaml
from pulumi.output import Unknown

from components.cluster import userdata
from tools import capacity, cost, diagram, harness, helm_render, live_outputs, policy_check, render, tfplan

NODE_TYPES = ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate")


def render_tree(graph: harness.Graph) -> list[str]:
    children: dict[str, list[harness.Resource]] = {}
    for resource in graph.resources:
        children.setdefault(resource.parent, []).append(resource)
    roots = [r for r in graph.resources if r.parent.endswith(f"pulumi:pulumi:Stack::{harness.PROJECT}-{graph.stack}")]
    lines = [f"{harness.PROJECT}-{graph.stack} (pulumi:pulumi:Stack)"]

    def emit(resource: harness.Resource, depth: int) -> None:
        marks = " [protected]" if resource.protect else ""
        lines.append(f"{'  ' * depth}- {resource.type} {resource.name}{marks}")
        for child in sorted(children.get(resource.urn, []), key=lambda r: (r.custom, r.type, r.name)):
            emit(child, depth + 1)

    for root in sorted(roots, key=lambda r: (r.custom, r.type, r.name)):
        emit(root, 1)
    return lines


def render_counts(graph: harness.Graph) -> list[str]:
    counts = Counter(r.type for r in graph.resources)
    width = max((len(t) for t in counts), default=0)
    lines = [f"  {t:<{width}}  {n}" for t, n in sorted(counts.items())]
    lines.append(f"  {'total':<{width}}  {sum(counts.values())}")
    return lines


def one_line(value: object) -> str:
    """A PEM or other multi-line value as its first line and a line count."""
    text = str(value)
    lines = text.strip().splitlines()
    return text if len(lines) <= 1 else f"{lines[0]} ... ({len(lines)} lines)"


POLICY_VIOLATIONS = 3
# A pool at its minimum size cannot hold what the stack deploys (tools/capacity.py).
CAPACITY_SHORT = 4


def render_verdict(verdict: policy_check.Verdict) -> list[str]:
    status = "PASS" if verdict.passed else "FAIL"
    lines = [f"Policy verdict: {status} ({len(verdict.violations)} mandatory violations)"]
    lines += [f"  {f.policy}: {f.message}" for f in verdict.violations]
    lines += [f"  cannot be checked until `pulumi up`: {f.policy}: {f.message}" for f in verdict.unknown]
    return lines


def _json_default(value: object) -> str:
    return "[unknown until pulumi up]" if isinstance(value, Unknown) else str(value)


def write_out(graph: harness.Graph, out: Path, estimate: cost.Estimate, verdict: policy_check.Verdict) -> list[Path]:
    """Everything a reviewer reads, with every secret redacted: one YAML file per
    Kubernetes object the program declares and, under manifests/addons/<release>/, per
    object each Helm release renders (the vendored chart, the real Helm); every
    bootstrap script, every IAM, bucket and key policy document, the graph as JSON, the
    AWS resources as a Terraform plan for the scanners security teams run, the diagram,
    the cost and the verdict."""
    out.mkdir(parents=True, exist_ok=True)
    written = render.write_manifests(graph, out / "manifests")
    for release in helm_render.render_stack(graph):
        written += render.write_objects(release.objects, out / "manifests" / "addons" / release.release)
    written += render.write_objects(helm_render.stack_crds(graph), out / "manifests" / "crds")
    scripts, policies = out / "scripts", out / "iam"
    for resource in graph.resources:
        public = resource.public_inputs
        if resource.type in NODE_TYPES and isinstance(public.get("userDataBase64") or public.get("userData"), str):
            written.append(_write(scripts / f"{resource.name}.sh", userdata.script_of(public)))
        for key in ("policy", "assumeRolePolicy"):
            document = public.get(key)
            if resource.type.startswith(("aws:iam/", "aws:s3/bucketPolicy", "aws:kms/key")) and isinstance(
                document, str
            ):
                pretty = json.dumps(json.loads(document), indent=2) if document != harness.REDACTED else document
                written.append(_write(policies / f"{resource.name}.{key}.json", pretty + "\n"))
    dump = [
        {
            "urn": r.urn,
            "type": r.type,
            "parent": r.parent,
            "provider": r.provider_urn,
            "dependencies": r.dependencies,
            "protect": r.protect,
            "ignoreChanges": r.ignore_changes,
            "inputs": r.public_inputs,
            "outputs": r.public_outputs,
        }
        for r in graph.resources
    ]
    graph_json = {"stack": graph.stack, "resources": dump, "outputs": graph.public_exports}
    written.append(_write(out / "graph.json", json.dumps(graph_json, indent=2, default=_json_default) + "\n"))
    if graph.cloud_resources():
        plan = json.dumps(tfplan.terraform_plan(graph), indent=2, default=_json_default)
        written.append(_write(out / tfplan.FILE_NAME, plan + "\n"))
    written.append(_write(out / "diagram.mmd", diagram.mermaid(graph)))
    written.append(_write(out / "cost.txt", "\n".join(cost.render(estimate)) + "\n"))
    written.append(_write(out / "policy.txt", "\n".join(render_verdict(verdict)) + "\n"))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description="Offline plan of one Podium stack.")
    parser.add_argument("stack", help=f"stack name, one of: {', '.join(harness.stacks())}")
    parser.add_argument(
        "--out", type=Path, help="write manifests, scripts, IAM documents, graph, Terraform plan, diagram here"
    )
    parser.add_argument(
        "--config", type=Path, help="a stack file to read the config from instead of Pulumi.<stack>.yaml"
    )
    parser.add_argument("--cost-json", type=Path, help="write the cost estimate as JSON to this file")
    args = parser.parse_args(argv)
    config_file = args.config or harness.stack_file(args.stack)
    if not config_file.exists():
        print(f"no stack file {config_file.name}", file=sys.stderr)
        return 2
    config = dict((yaml.safe_load(config_file.read_text()) or {}).get("config") or {})
    try:
        graph = harness.run(args.stack, config)
    except harness.ProgramError as error:
        print(f"plan for stack {args.stack!r} failed:\n{error}", file=sys.stderr)
        print(f"resources registered before the failure: {len(error.graph.resources)}", file=sys.stderr)
        return 1
    print(f"Resource tree for stack {args.stack!r}:")
    print("\n".join(render_tree(graph)))
    print("\nResources by type:")
    print("\n".join(render_counts(graph)))
    print("\nStack outputs:")
    for key in sorted(graph.exports):
        print(f"  {key}: {'[secret]' if key in graph.secret_exports else one_line(graph.exports[key])}")
    estimate = cost.estimate(graph)
    print()
    print("\n".join(cost.render(estimate)))
    if args.cost_json:
        _write(args.cost_json, json.dumps(cost.as_json(estimate, args.stack), indent=2) + "\n")
    try:
        capacity_report = capacity.stack_report(graph, helm_render.render_stack(graph))
    except helm_render.RenderError as error:  # no Helm, or a chart refusing its values: not checked is not fine
        capacity_report = capacity.Report(failures=[f"cannot be checked, the charts did not render: {error}"])
    print()
    print("\n".join(capacity.render(capacity_report)))
    # As at the end of a real `up`: stack rules read the live outputs.
    verdict = policy_check.evaluate(live_outputs.refreshed(graph))
    print()
    print("\n".join(render_verdict(verdict)))
    if args.out:
        files = write_out(graph, args.out, estimate, verdict)
        print(f"\nwrote {len(files)} files under {args.out}")
    if not verdict.passed:
        return POLICY_VIOLATIONS
    return 0 if capacity_report.passed else CAPACITY_SHORT


if __name__ == "__main__":
    # Cache the project's own bytecode even where PYTHONDONTWRITEBYTECODE is set: every
    # plan would otherwise recompile it.
    sys.dont_write_bytecode = False
    exit_code = main()
    # Skip the interpreter's teardown: finalising the SDKs' objects and the mock
    # monitor's threads takes longer than a second, and every file is written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
