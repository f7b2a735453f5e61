"""Podium's CrossGuard policies: mandatory rules every stack must meet, checked by
`pulumi preview --policy-pack policy` on every pull request, at the end of every
`pulumi up`, and in-process by the tests.

What each kind of rule sees (pulumi/pulumi, pkg/resource/deploy/step_generator.go):
- a resource rule sees the resource's **inputs**, what the program declared;
- a stack rule sees every resource's **outputs**, at the end of `up` the live objects:
  Kubernetes objects with the API server's defaults and status, security groups with
  every rule AWS holds, whoever added it. A stack rule therefore never judges a value a
  server may fill in as if the program had set it.

Values are read through pulumi-policy's proxy: one unknown during preview raises
UnknownValueError, which the framework reports as "cannot be checked yet" (advisory),
never as a violation. Stack rules skip just the resource whose value is unknown. The
pack depends on pulumi-policy, and PyYAML for the price table of its cost model
(cost_model.py, the plan's estimator too).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

if __package__:  # imported as policy.podium_policies: by the plan and the tests, from the project's root
    from policy import cost_model
else:  # `pulumi preview --policy-pack policy` runs the pack from its own directory
    import cost_model  # pyright: ignore[reportMissingImports]

MANDATORY = EnforcementLevel.MANDATORY
# The framework's report_violation(message, urn=None); its own alias makes urn required.
Report = Callable[..., None]
ANYWHERE = ("0.0.0.0/0", "::/0")
API_PORT = 6443
# Public load balancers may face the world on these ports only.
WEB_PORTS = {80, 443}
# Statements allowed to grant every action on every resource, with why. None is needed.
STAR_STAR_EXCEPTIONS: dict[str, str] = {}
ADMIN_POLICY_SUFFIXES = (":policy/AdministratorAccess",)

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
IAM_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
LONG_RUNNING = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:core/v1:Pod": "Pod",
}
BATCH = {"kubernetes:batch/v1:Job": "Job", "kubernetes:batch/v1:CronJob": "CronJob"}
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# The annotation naming the HPA that owns a Deployment's replica count
# (components/app/manifests.py REPLICAS_OWNER; a test keeps the two equal).
REPLICAS_OWNER = "podium.dev/replicas-owner"
# The service-account issuer's public documents (components/cluster/oidc.py; a test
# keeps the two equal), the audience of its tokens, and the trust subjects allowed a
# wildcard, each with why (none).
OIDC_DOCUMENTS = (".well-known/openid-configuration", "openid/v1/jwks")
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
WILDCARD_SUBJECTS: dict[str, str] = {}
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
# What the AWS cloud controller writes on the rules it adds to the cluster's node
# security group for a LoadBalancer Service's NLB (cloud-provider-aws v1.35.2,
# pkg/providers/v1/aws.go): client traffic to the Service's NodePorts, and ICMP
# "fragmentation needed" (type 3, code 4) for path MTU discovery, from its clients.
CONTROLLER_RULE_PREFIX = "kubernetes.io/rule/"
CONTROLLER_NLB_CLIENT_RULE = "kubernetes.io/rule/nlb/client="
CONTROLLER_NLB_MTU_RULE = "kubernetes.io/rule/nlb/mtu"
NODE_PORTS = (30000, 32767)


# -- helpers -----------------------------------------------------------------------


def _dig(value: Any, *path: str | int) -> Any:
    """value[path...], None where a key is absent; unknowns raise through the proxy."""
    for key in path:
        if value is None:
            return None
        value = value.get(key) if isinstance(key, str) else (value[key] if key < len(value) else None)
    return value


def _pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if resource_type == "kubernetes:core/v1:Pod":
        return _dig(props, "spec")
    if resource_type == "kubernetes:batch/v1:CronJob":
        return _dig(props, "spec", "jobTemplate", "spec", "template", "spec")
    if resource_type in LONG_RUNNING or resource_type in BATCH:
        return _dig(props, "spec", "template", "spec")
    return None


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _each_resource(resources: Iterable[PolicyResource], check: Callable[[PolicyResource], None]) -> None:
    """Runs `check` on each resource, skipping one whose values are unknown (preview)."""
    for resource in resources:
        try:
            check(resource)
        except UnknownValueError:
            continue


def _depends_on(resource: PolicyResource, prop: str, target: PolicyResource) -> bool:
    dependencies = resource.property_dependencies.get(prop) or []
    return any(d.urn == target.urn for d in dependencies)


def _world(cidr: Any) -> bool:
    return isinstance(cidr, str) and cidr in ANYWHERE


def _port_range(rule: Mapping[str, Any]) -> tuple[int, int]:
    protocol = str(rule.get("ipProtocol") or rule.get("protocol") or "")
    if protocol in ("-1", "all"):
        return 0, 65535
    low, high = rule.get("fromPort"), rule.get("toPort")
    return int(low if low is not None else 0), int(high if high is not None else 65535)


# -- AWS ---------------------------------------------------------------------------


def imdsv2_required(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in (INSTANCE, LAUNCH_TEMPLATE):
        return
    if _dig(args.props, "metadataOptions", "httpTokens") != "required":
        report(f"{args.name}: instance metadata must require IMDSv2 tokens (metadataOptions.httpTokens = required)")


def ebs_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    if args.resource_type == "aws:ebs/volume:Volume" and props.get("encrypted") is not True:
        report(f"{args.name}: EBS volumes must be encrypted (encrypted = true)")
    if args.resource_type == INSTANCE:
        devices = [props.get("rootBlockDevice") or {}, *(props.get("ebsBlockDevices") or [])]
        if any(d.get("encrypted") is not True for d in devices):
            report(f"{args.name}: the root and every EBS block device must be encrypted")
    if args.resource_type == LAUNCH_TEMPLATE:
        for mapping in props.get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs")
            if ebs is not None and str(ebs.get("encrypted")).lower() != "true":
                report(f"{args.name}: launch template volume {mapping.get('deviceName')} must be encrypted")


def _bucket_guard(
    part_type: str, ok: Callable[[Mapping[str, Any]], bool], message: str
) -> Callable[[StackValidationArgs, Report], None]:
    def validate(args: StackValidationArgs, report: Report) -> None:
        parts = [r for r in args.resources if r.resource_type == part_type]

        def check(bucket: PolicyResource) -> None:
            guards = [p for p in parts if _depends_on(p, "bucket", bucket)]
            if not any(ok(p.props) for p in guards):
                report(f"{bucket.name}: {message}", bucket.urn)

        _each_resource((r for r in args.resources if r.resource_type in BUCKET_TYPES), check)

    return validate


def _sse_set(props: Mapping[str, Any]) -> bool:
    rules = props.get("rules") or []
    return any(_dig(r, "applyServerSideEncryptionByDefault", "sseAlgorithm") for r in rules)


def _all_blocked(props: Mapping[str, Any]) -> bool:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return all(props.get(k) is True for k in keys)


def _public_statements(policy_text: Any) -> list[Mapping[str, Any]]:
    document = json.loads(policy_text) if isinstance(policy_text, str) else policy_text or {}
    statements = document.get("Statement") or []
    statements = [statements] if isinstance(statements, Mapping) else statements

    def public(principal: Any) -> bool:
        # "*", {"AWS": "*"}, {"AWS": ["*"]}, or any other shape naming everyone.
        return "*" in json.dumps(principal) or "NotPrincipal" in json.dumps(principal)

    return [s for s in statements if s.get("Effect") == "Allow" and (public(s.get("Principal")) or "NotPrincipal" in s)]


def _only_discovery_documents_public(bucket: PolicyResource, policies: list[PolicyResource]) -> bool:
    """The one public bucket shape Podium allows: the service-account issuer's, whose
    policy lets anyone read exactly the OpenID discovery document and the JWKS."""
    arn = bucket.props.get("arn")
    allowed = {f"{arn}/{key}" for key in OIDC_DOCUMENTS}
    public = [s for p in policies for s in _public_statements(p.props.get("policy"))]

    def resources(s: Mapping[str, Any]) -> set[str]:
        value = s.get("Resource")
        return {value} if isinstance(value, str) else set(value or [])

    return bool(public) and all(
        s.get("Action") in ("s3:GetObject", ["s3:GetObject"])
        and not {"NotAction", "NotResource", "NotPrincipal"} & set(s)
        and resources(s)
        and resources(s) <= allowed
        for s in public
    )


def s3_public_access_blocked(args: StackValidationArgs, report: Report) -> None:
    """Every bucket blocks public access, all four settings; except that the
    service-account issuer's bucket may allow a public policy (ACLs stay blocked) when
    that policy makes public exactly its two discovery documents, for reading."""
    resources = list(args.resources)
    blocks = [r for r in resources if r.resource_type == PUBLIC_ACCESS_BLOCK]
    policies = [r for r in resources if r.resource_type == BUCKET_POLICY]

    def check(bucket: PolicyResource) -> None:
        guards = [b.props for b in blocks if _depends_on(b, "bucket", bucket)]
        if any(_all_blocked(g) for g in guards):
            return
        own = [p for p in policies if _depends_on(p, "bucket", bucket)]
        acls_closed = any(g.get("blockPublicAcls") is True and g.get("ignorePublicAcls") is True for g in guards)
        if acls_closed and _only_discovery_documents_public(bucket, own):
            return
        report(
            f"{bucket.name}: needs a BucketPublicAccessBlock with all four settings true "
            "(only an issuer's bucket may serve its two discovery documents publicly)",
            bucket.urn,
        )

    _each_resource((r for r in resources if r.resource_type in BUCKET_TYPES), check)


def web_identity_trust_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """Every web-identity trust names one service account (`<issuer>:sub`, no wildcard
    unless WILDCARD_SUBJECTS lists it with a reason) and the STS audience (`:aud`)."""
    if args.resource_type != "aws:iam/role:Role":
        return
    text = args.props.get("assumeRolePolicy")
    document = json.loads(text) if isinstance(text, str) else text or {}
    statements = document.get("Statement") or []
    for statement in [statements] if isinstance(statements, Mapping) else statements:
        actions = statement.get("Action")
        listed = [actions] if isinstance(actions, str) else actions or []
        if not any(fnmatch.fnmatchcase("sts:AssumeRoleWithWebIdentity", a) for a in listed):
            continue
        condition = statement.get("Condition") or {}
        exact = condition.get("StringEquals") or {}
        like = condition.get("StringLike") or {}
        # Only the plain operators pin a value; ForAnyValue:, IfExists and IgnoreCase do not.
        loose = [op for op in condition if op not in ("StringEquals", "StringLike")]
        subjects = [v for k, v in {**exact, **like}.items() if k.endswith(":sub")]
        audiences = [v for k, v in exact.items() if k.endswith(":aud")]
        sid = statement.get("Sid") or "(no Sid)"
        if any(k.endswith((":sub", ":aud")) for op in loose for k in condition[op]):
            report(f"{args.name}: statement {sid} must pin `sub` and `aud` with StringEquals, not {', '.join(loose)}")
        if audiences != [WEB_IDENTITY_AUDIENCE]:
            report(f"{args.name}: statement {sid} must pin `<issuer>:aud` to {WEB_IDENTITY_AUDIENCE}")
        flat = [s for v in subjects for s in ([v] if isinstance(v, str) else v)]
        wild = [s for s in flat if ("*" in s or "?" in s) and s not in WILDCARD_SUBJECTS]
        if len(flat) != 1 or wild:
            report(f"{args.name}: statement {sid} must pin `<issuer>:sub` to one service account, got {flat or 'none'}")


def _ingress_rules(args: StackValidationArgs) -> list[tuple[PolicyResource, Mapping[str, Any], Any]]:
    """(resource, rule, CIDR) for every ingress rule from anywhere, in any of the three
    shapes AWS rules take in Pulumi; the group is found by dependency."""
    found: list[tuple[PolicyResource, Mapping[str, Any], Any]] = []

    def collect(resource: PolicyResource) -> None:
        props = resource.props
        if resource.resource_type == INGRESS_RULE:
            for key in ("cidrIpv4", "cidrIpv6"):
                if _world(props.get(key)):
                    found.append((resource, props, props.get(key)))
        elif resource.resource_type == LEGACY_RULE and props.get("type") == "ingress":
            for cidr in [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]:
                if _world(cidr):
                    found.append((resource, props, cidr))
        elif resource.resource_type == SECURITY_GROUP:
            for rule in props.get("ingress") or []:
                for cidr in [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]:
                    if _world(cidr):
                        found.append((resource, rule, cidr))

    _each_resource(args.resources, collect)
    return found


def _group_of(rule: PolicyResource, resources: list[PolicyResource]) -> PolicyResource | None:
    if rule.resource_type == SECURITY_GROUP:
        return rule
    prop = "securityGroupId"
    return next((r for r in resources if r.resource_type == SECURITY_GROUP and _depends_on(rule, prop, r)), None)


def _cluster_tagged(group: PolicyResource | None) -> bool:
    if group is None or group.resource_type != SECURITY_GROUP:
        return False
    try:
        tags = group.props.get("tags") or {}
    except UnknownValueError:
        return False
    return any(str(key).startswith("kubernetes.io/cluster/") and value == "owned" for key, value in tags.items())


def _made_by_the_cloud_controller(
    resource: PolicyResource, rule: Mapping[str, Any], cidr: Any, low: int, high: int
) -> bool:
    """A rule the AWS cloud controller keeps on the cluster's node group for an NLB:
    one NodePort (TCP or UDP), or ICMP type 3 code 4, from an IPv4 range (it writes no
    other). Only inside a security group's own `ingress` list (what AWS reports after a
    refresh); a separate rule resource never counts, and `controller-rules-not-declared`
    keeps the program from declaring such a rule inline."""
    if resource.resource_type != SECURITY_GROUP or not _cluster_tagged(resource) or cidr != "0.0.0.0/0":
        return False
    description = str(rule.get("description") or "")
    protocol = str(rule.get("protocol") or "").lower()
    if description.startswith(CONTROLLER_NLB_CLIENT_RULE):
        return protocol in ("tcp", "udp", "6", "17") and low == high and NODE_PORTS[0] <= low <= NODE_PORTS[1]
    if description == CONTROLLER_NLB_MTU_RULE:
        return protocol in ("icmp", "1") and (low, high) == (3, 4)
    return False


def no_world_ingress(args: StackValidationArgs, report: Report) -> None:
    """No ingress from anywhere, except 80 and 443 to an internet-facing load balancer's
    group, and the AWS cloud controller's rules for the ingress NLB.

    Why those controller rules are accepted rather than narrowed with the Service's
    `loadBalancerSourceRanges`: the ingress NLB targets instances and keeps the client's
    address, so the nodes must admit the clients themselves; for a public web app the
    clients are the world, and source ranges would write the same 0.0.0.0/0. The rules
    admit only that Service's NodePorts (and ICMP for path MTU discovery), and the nodes
    sit in private subnets with no public address: the world reaches those ports only
    through the NLB's listeners on 80 and 443. A stack rule sees them because it reads
    the refreshed group; the controller, not the program, owns them.
    """
    resources = list(args.resources)
    balancer_groups = {
        d.urn
        for lb in resources
        if lb.resource_type in LOAD_BALANCERS and not _internal(lb)
        for d in lb.property_dependencies.get("securityGroups") or []
    }
    for resource, rule, cidr in _ingress_rules(args):
        try:
            low, high = _port_range(rule)
        except UnknownValueError:
            continue
        group = _group_of(resource, resources)
        if _made_by_the_cloud_controller(resource, rule, cidr, low, high):
            continue
        if low <= 22 <= high:
            report(f"{resource.name}: SSH (22) must never be open to {cidr}; use SSM Session Manager", resource.urn)
        elif not (group is not None and group.urn in balancer_groups and low == high and low in WEB_PORTS):
            report(
                f"{resource.name}: ingress from {cidr} on {low}-{high} is allowed only on 80 or 443 "
                "to an internet-facing load balancer's security group",
                resource.urn,
            )


def controller_rules_not_declared(args: ResourceValidationArgs, report: Report) -> None:
    """On inputs: the program writes no rule described as the cloud controller's. The
    stack rule above excuses such rules on the node group, which must therefore be the
    controller's own."""
    if args.resource_type == SECURITY_GROUP:
        rules = args.props.get("ingress") or []
    elif args.resource_type in (INGRESS_RULE, LEGACY_RULE):
        rules = [args.props]
    else:
        return
    for rule in rules:
        if str(rule.get("description") or "").startswith(CONTROLLER_RULE_PREFIX):
            report(
                f"{args.name}: a rule described as the cloud controller's ({rule.get('description')}) is its to write"
            )


def _internal(lb: PolicyResource) -> bool:
    try:
        return lb.props.get("internal") is True
    except UnknownValueError:
        return False


def _star(value: Any) -> bool:
    values = [value] if isinstance(value, str) else list(value or [])
    return any(v in ("*", "*:*") for v in values)


def iam_no_star_star(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type in POLICY_ATTACHMENTS:
        arn = str(args.props.get("policyArn") or "")
        if arn.endswith(ADMIN_POLICY_SUFFIXES):
            report(f"{args.name}: attaching {arn} grants every action on every resource")
        return
    documents: list[Any] = []
    if args.resource_type in IAM_DOCUMENT_TYPES:
        documents.append(args.props.get("policy"))
    elif args.resource_type == "aws:iam/role:Role":
        documents += [p.get("policy") for p in args.props.get("inlinePolicies") or []]
    for text in documents:
        document = json.loads(text) if isinstance(text, str) else text
        if not isinstance(document, Mapping):
            continue
        statements = document.get("Statement") or []
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            sid = str(statement.get("Sid") or "")
            if (
                statement.get("Effect") == "Allow"
                and _star(statement.get("Action"))
                and _star(statement.get("Resource"))
                and sid not in STAR_STAR_EXCEPTIONS
            ):
                report(f"{args.name}: statement {sid or '(no Sid)'} allows every action on every resource")


def _protected(args: StackValidationArgs) -> bool:
    """A stack runs with deletionProtection when it protects any resource."""
    return any(r.opts.protect for r in args.resources)


def api_not_open_in_protected_stacks(args: StackValidationArgs, report: Report) -> None:
    if not _protected(args):
        return
    for resource, rule, cidr in _ingress_rules(args):
        try:
            low, high = _port_range(rule)
        except UnknownValueError:
            continue
        if low <= API_PORT <= high:
            report(f"{resource.name}: the API endpoint (6443) is open to {cidr} in a protected stack", resource.urn)


def protected_stack_is_highly_available(args: StackValidationArgs, report: Report) -> None:
    if not _protected(args):
        return
    resources = list(args.resources)
    control_planes = []

    def is_control_plane(resource: PolicyResource) -> None:
        tags = resource.props.get("tags") or {}
        if any(str(k).startswith("kubernetes.io/cluster/") for k in tags):
            control_planes.append(resource)

    _each_resource((r for r in resources if r.resource_type == INSTANCE), is_control_plane)
    zones = set()
    for plane in control_planes:
        for subnet in plane.property_dependencies.get("subnetId") or []:
            try:
                zone = subnet.props.get("availabilityZone")
            except UnknownValueError:
                zone = None
            zones.add(zone or subnet.urn)
    if control_planes and (len(control_planes) < 3 or len(zones) < 3):
        report(
            f"a protected stack needs at least 3 control planes across 3 availability zones; "
            f"found {len(control_planes)} in {len(zones)}"
        )


def _cost_records(resources: Iterable[PolicyResource]) -> list[cost_model.Record]:
    """The stack's resources as the cost model reads them: their outputs, and the
    top-level component each belongs to, from the parents the engine resolved."""

    def ancestors(resource: PolicyResource) -> Iterable[tuple[str, str]]:
        parent = resource.parent
        while parent is not None:
            yield parent.resource_type, parent.name
            parent = parent.parent

    return [
        cost_model.Record(
            type=r.resource_type,
            name=r.name,
            urn=r.urn,
            properties=r.props,
            component=cost_model.top_component(r.name, ancestors(r)),
            dependencies=tuple(d.urn for d in r.dependencies),
        )
        for r in resources
    ]


def estimate_within_budget(args: StackValidationArgs, report: Report) -> None:
    """A stack with a monthly budget (budget.monthlyUsd: an AWS Budgets budget the
    program declares) keeps its estimate within it: the plan's estimate (cost_model.py),
    here over the outputs, so what the autoscaler has made of a group's desired size
    counts. An estimate that leaves out what has no list price cannot show that; values
    unknown in a preview make the rule report that it cannot check yet."""
    records = _cost_records(args.resources)
    if cost_model.monthly_budget(records) is None:
        return
    problem = cost_model.budget_violation(cost_model.estimate(records))
    if problem:
        report(problem)


# -- Kubernetes --------------------------------------------------------------------


def k8s_no_privileged_or_root(args: ResourceValidationArgs, report: Report) -> None:
    pod = _pod_spec(args.resource_type, args.props)
    if pod is None:
        return
    pod_context = pod.get("securityContext") or {}
    for container in _containers(pod):
        context = container.get("securityContext") or {}
        name = container.get("name")
        if context.get("privileged") is True:
            report(f"{args.name}: container {name} must not be privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            report(f"{args.name}: container {name} must set allowPrivilegeEscalation: false")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        if non_root is not True or user == 0:
            report(f"{args.name}: container {name} must run as non-root (runAsNonRoot: true, runAsUser != 0)")


def k8s_resources_and_probes(args: ResourceValidationArgs, report: Report) -> None:
    pod = _pod_spec(args.resource_type, args.props)
    if pod is None:
        return
    for container in pod.get("containers") or []:
        name = container.get("name")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            if not all((resources.get(kind) or {}).get(r) for r in ("cpu", "memory")):
                report(f"{args.name}: container {name} needs cpu and memory {kind}")
        # Batch pods end on their own; their deadline, not a probe, bounds them.
        if args.resource_type in LONG_RUNNING:
            for probe in ("livenessProbe", "readinessProbe"):
                if not container.get(probe):
                    report(f"{args.name}: container {name} needs a {probe}")


def image_problem(image: str) -> str | None:
    name, at, _digest = image.partition("@")
    if at:
        return None
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (an untagged image means latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses the latest tag"
    return None


def k8s_pinned_images(args: ResourceValidationArgs, report: Report) -> None:
    pod = _pod_spec(args.resource_type, args.props)
    if pod is None:
        return
    for container in _containers(pod):
        problem = image_problem(str(container.get("image") or ""))
        if problem:
            report(f"{args.name}: image {container.get('image')} {problem}; pin a version or a digest")


def k8s_namespace_pod_security(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "kubernetes:core/v1:Namespace":
        return
    labels = _dig(args.props, "metadata", "labels") or {}
    if not labels.get("pod-security.kubernetes.io/enforce"):
        report(f"{args.name}: namespaces must carry a pod-security.kubernetes.io/enforce label")


# Who a tenant is to the API server (components/platform/tenants.py): its certificate's
# user, and the organization every tenant certificate carries.
TENANT_USER_PREFIX = "podium:tenant:"
TENANT_GROUP = "podium:tenants"
BINDINGS = {
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": "RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": "ClusterRoleBinding",
}


def k8s_no_tenant_on_a_cluster_wide_role(args: ResourceValidationArgs, report: Report) -> None:
    """A tenant's rights end at its namespace: it is bound only to a namespaced Role, by
    a RoleBinding in that namespace; never to a ClusterRole (admin, edit, view and every
    custom one reach cluster-scoped kinds or every namespace), and its shared group
    never to anything."""
    kind = BINDINGS.get(args.resource_type)
    if kind is None:
        return
    role_kind = _dig(args.props, "roleRef", "kind")
    cluster_wide = kind == "ClusterRoleBinding" or role_kind == "ClusterRole"
    for subject in args.props.get("subjects") or []:
        name = str(subject.get("name") or "")
        if subject.get("kind") == "Group" and name == TENANT_GROUP:
            report(f"{args.name}: binds the group {TENANT_GROUP}, which every tenant is in: bind one tenant's user")
        elif subject.get("kind") == "User" and name.startswith(TENANT_USER_PREFIX) and not cluster_wide:
            own = name.removeprefix(TENANT_USER_PREFIX).rsplit(":", 1)[0]
            namespace = _dig(args.props, "metadata", "namespace")
            if namespace != own:
                report(f"{args.name}: binds tenant {name} in namespace {namespace}: a tenant is bound in its own only")
        elif subject.get("kind") == "User" and name.startswith(TENANT_USER_PREFIX):
            report(
                f"{args.name}: binds tenant {name} to the {role_kind} {_dig(args.props, 'roleRef', 'name')}: "
                "a tenant gets a Role of its own namespace only"
            )


def k8s_hpa_owns_replicas(args: ResourceValidationArgs, report: Report) -> None:
    """On inputs: a Deployment an HPA owns (it says so) does not set spec.replicas. The
    live object always has it, so only what the program declares can show who set it."""
    if args.resource_type != DEPLOYMENT:
        return
    owner = (_dig(args.props, "metadata", "annotations") or {}).get(REPLICAS_OWNER)
    if owner and _dig(args.props, "spec", "replicas") is not None:
        report(f"{args.name}: {owner} scales this Deployment; setting spec.replicas would fight it")


def k8s_hpa_target_names_its_owner(args: StackValidationArgs, report: Report) -> None:
    """On outputs: every Deployment an HPA of the stack scales carries the annotation
    naming that HPA, so the resource rule above applies to it. Annotations come back
    from the API server as declared."""
    owners: dict[tuple[Any, Any], str] = {}

    def target(hpa: PolicyResource) -> None:
        ref = _dig(hpa.props, "spec", "scaleTargetRef") or {}
        if ref.get("kind") == "Deployment":
            key = (_dig(hpa.props, "metadata", "namespace"), ref.get("name"))
            owners[key] = f"HorizontalPodAutoscaler/{_dig(hpa.props, 'metadata', 'name')}"

    def check(deployment: PolicyResource) -> None:
        key = (_dig(deployment.props, "metadata", "namespace"), _dig(deployment.props, "metadata", "name"))
        annotations = _dig(deployment.props, "metadata", "annotations") or {}
        if key in owners and annotations.get(REPLICAS_OWNER) != owners[key]:
            report(
                f"{deployment.name}: {owners[key]} scales this Deployment; annotate it "
                f"{REPLICAS_OWNER}: {owners[key]} so that its replicas stay unset",
                deployment.urn,
            )

    _each_resource((r for r in args.resources if r.resource_type == HPA), target)
    _each_resource((r for r in args.resources if r.resource_type == DEPLOYMENT), check)


def _resource_policy(name: str, description: str, validate: Any) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=MANDATORY)


def _stack_policy(name: str, description: str, validate: Any) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=MANDATORY)


POLICIES: list[Policy] = [
    _resource_policy("imdsv2-required", "Instances and launch templates require IMDSv2.", imdsv2_required),
    _resource_policy("ebs-encrypted", "EBS volumes, root and block devices are encrypted.", ebs_encrypted),
    _stack_policy(
        "s3-encrypted",
        "Every S3 bucket has default server-side encryption.",
        _bucket_guard(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            _sse_set,
            "needs default encryption (a BucketServerSideEncryptionConfiguration)",
        ),
    ),
    _stack_policy(
        "s3-public-access-blocked",
        "Every S3 bucket blocks public access, all four settings (the issuer's two documents excepted).",
        s3_public_access_blocked,
    ),
    _resource_policy(
        "web-identity-trust-pinned",
        "Web-identity trust policies pin one service account (`sub`) and the STS audience (`aud`).",
        web_identity_trust_pinned,
    ),
    _stack_policy(
        "no-world-ingress",
        "No ingress from anywhere but 80/443 to public load balancers; never SSH.",
        no_world_ingress,
    ),
    _resource_policy(
        "controller-rules-not-declared",
        "The program declares no security group rule described as the cloud controller's.",
        controller_rules_not_declared,
    ),
    _resource_policy("iam-no-star-star", "No IAM policy allows * actions on * resources.", iam_no_star_star),
    _stack_policy(
        "api-not-open-in-protected-stacks",
        "A protected stack's API endpoint is not open to the world.",
        api_not_open_in_protected_stacks,
    ),
    _stack_policy(
        "protected-stack-ha",
        "A protected stack has 3 or more control planes across 3 or more AZs.",
        protected_stack_is_highly_available,
    ),
    _stack_policy(
        "estimate-within-budget",
        "A stack with budget.monthlyUsd keeps its monthly cost estimate within it, every cost priced.",
        estimate_within_budget,
    ),
    _resource_policy(
        "k8s-no-privileged-or-root",
        "Containers are not privileged, cannot escalate, and run as non-root.",
        k8s_no_privileged_or_root,
    ),
    _resource_policy(
        "k8s-resources-and-probes",
        "Containers have cpu/memory requests and limits; long-running ones liveness and readiness probes.",
        k8s_resources_and_probes,
    ),
    _resource_policy("k8s-pinned-images", "Images carry a tag other than latest, or a digest.", k8s_pinned_images),
    _resource_policy(
        "k8s-namespace-pod-security",
        "Namespaces carry the Pod Security Standards enforce label.",
        k8s_namespace_pod_security,
    ),
    _resource_policy("k8s-hpa-owns-replicas", "Deployments an HPA owns leave replicas unset.", k8s_hpa_owns_replicas),
    _resource_policy(
        "k8s-no-tenant-on-a-cluster-wide-role",
        "No tenant is bound to a ClusterRole, by a ClusterRoleBinding, or outside its own namespace.",
        k8s_no_tenant_on_a_cluster_wide_role,
    ),
    _stack_policy(
        "k8s-hpa-target-names-its-owner",
        "Deployments an HPA scales are annotated with that HPA.",
        k8s_hpa_target_names_its_owner,
    ),
]
