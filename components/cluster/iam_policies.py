"""IAM policy documents for Podium's instance roles, as plain dicts (pure: no Pulumi, no AWS calls).

Two roles, both assumed by EC2 instances through an instance profile:

* control plane: the AWS cloud-controller-manager (CCM) and the EBS CSI controller run there, so it
  carries their AWS permissions; it also reads the cluster PKI from SSM Parameter Store and uploads
  etcd snapshots to S3.
* node (worker): kubelet-side needs only (the instance lookups the CCM documents for nodes) and
  the join token. The EBS CSI *node* DaemonSet makes no AWS API calls: it reads instance
  metadata (IMDS, or the Node object as a fallback), per the driver's install docs, so it needs no IAM.

Sources (read, not copied): kubernetes/cloud-provider-aws docs/prerequisites.md (CCM control-plane and
node policies) and pkg/providers/v1 (which calls carry tags), kubernetes-sigs/aws-ebs-csi-driver
docs/example-iam-policy*.json, docs/tagging.md and docs/install.md (AmazonEBSCSIDriverPolicy shape).

How mutating calls are fenced in, since EC2 and ELB ARNs carry random ids we cannot know up front:

* creates must carry the owning tag in the request (``aws:RequestTag``); tags may only be written
  as part of a create (``ec2:CreateAction`` / ``elasticloadbalancing:CreateAction``), so the role
  cannot stamp our tag on a resource it does not own and then manage it;
* changes and deletes need the tag on the resource (``aws:ResourceTag``): the CCM's load balancers
  and security groups carry ``kubernetes.io/cluster/<name>=owned``; EBS CSI volumes carry
  ``ebs.csi.aws.com/cluster=true`` *and* ``kubernetes.io/cluster/<name>=owned`` (the second one only
  when the driver runs with ``k8sTagClusterId=<name>``), which keeps two clusters in one account
  apart; attach and detach need the cluster tag on the volume and the instance, and Podium's own
  etcd and root volumes carry no cluster tag, so they stay out of reach;
* volumes must be created encrypted (``ec2:Encrypted``): StorageClasses set ``encrypted: "true"``.

``Describe*`` calls cannot be scoped by resource (EC2, Auto Scaling and ELB describe APIs define no
resource types), so those are the only ``"Resource": "*"``
statements; everything else names ARNs in the cluster's own partition, region and account.

Left out on purpose: route-table changes and ``ec2:ModifyInstanceAttribute`` (the CCM only needs them
for cloud routes; Podium runs it with ``--configure-cloud-routes=false`` and its CNI routes pods),
the CCM's legacy in-tree volume calls (EBS CSI owns volumes now), ``kms:DescribeKey``, ECR pulls
(images come from public registries; private ECR would also need the kubelet's ECR credential
provider), ``iam:CreateServiceLinkedRole`` (ELB's service-linked role exists once per account; the
docs/architecture.md says how to create it), EBS snapshots (Podium installs no VolumeSnapshot CRDs or snapshot controller; add the
driver's tag-fenced snapshot statements if that changes), and any read or delete on etcd
snapshots in S3 (a compromised control plane cannot erase its backups).
SSM Session Manager comes from the AWS-managed AmazonSSMManagedInstanceCore attachment.
"""

from __future__ import annotations

from components.shared.iam import Policy, Statement, check_literal, policy_document, statement

# Tag the CCM (and the EBS CSI driver with k8sTagClusterId) puts on what it creates.
OWNED = "owned"
EBS_CSI_CLUSTER_TAG = "ebs.csi.aws.com/cluster"


# parliament (the IAM linter in tests) judges one statement at a time and wants every statement to
# name all resource types an action requires. EC2 authorizes each resource of a request on its own,
# and a tag condition only holds for the resource type that carries the tag, so AWS's own examples
# split such actions by resource type. These findings (MEDIUM in parliament's scale) are accepted,
# each for the named statement only; any other finding, at any severity, fails the tests.
# Keyed by (Sid, issue); a graph-level lint of the rendered policies can reuse this table.
PARLIAMENT_ACCEPTED_FINDINGS: dict[tuple[str, str], str] = {
    ("CcmTagLoadBalancersOnCreate", "UNKNOWN_CONDITION_FOR_ACTION"): (
        "parliament's data holds a stale duplicate 'Elastic Load Balancing V2' entry without "
        "elasticloadbalancing:CreateAction; its other two ELB entries (and AWS) document the key for AddTags"
    ),
}


def cluster_tag_key(cluster_name: str) -> str:
    """The ownership tag key Kubernetes' AWS integrations look for."""
    return f"kubernetes.io/cluster/{cluster_name}"


def autoscaler_tag_key(cluster_name: str) -> str:
    """The cluster autoscaler's per-cluster discovery tag on the cluster's groups (value
    `owned`): the roles that change groups are fenced by it."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def _dns_suffix(partition: str) -> str:
    # Service endpoints (for kms:ViaService) live under a partition-specific domain.
    return "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"


def _check_parameter_name(name: str, value: str) -> None:
    if not value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError(
            f"{name} must be an absolute SSM name like /podium/<env>/..., without a trailing slash: {value!r}"
        )


def ssm_parameter_arn(*, partition: str, region: str, account_id: str, name: str) -> str:
    """ARN of an SSM parameter; ``name`` is absolute (``/podium/...``), so no extra slash."""
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter{name}"


def _ssm_read_statements(
    *,
    partition: str,
    region: str,
    kms_key_arn: str,
    parameter_arns: list[str],
    path_arns: list[str],
) -> list[Statement]:
    readers = [statement("SsmReadParameters", ["ssm:GetParameter", "ssm:GetParameters"], parameter_arns)]
    if path_arns:
        # GetParametersByPath is authorized against the path itself; the child wildcard covers
        # recursive reads below it.
        readers.append(statement("SsmReadParametersByPath", ["ssm:GetParametersByPath"], path_arns))
    readers.append(
        statement(
            "KmsDecryptSecureStrings",
            ["kms:Decrypt"],
            kms_key_arn,
            {
                # Only when SSM decrypts a SecureString for us, and only for our own parameters
                # (SSM sends the parameter's ARN as encryption context).
                "StringEquals": {"kms:ViaService": f"ssm.{region}.{_dns_suffix(partition)}"},
                "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": parameter_arns},
            },
        )
    )
    return readers


def _ccm_statements(*, partition: str, region: str, account_id: str, cluster_name: str, vpc_id: str) -> list[Statement]:
    owned_request = {"StringEquals": {f"aws:RequestTag/{cluster_tag_key(cluster_name)}": OWNED}}
    owned_resource = {"StringEquals": {f"aws:ResourceTag/{cluster_tag_key(cluster_name)}": OWNED}}
    ec2 = f"arn:{partition}:ec2:{region}:{account_id}"
    elb = f"arn:{partition}:elasticloadbalancing:{region}:{account_id}"
    # Classic ELBs are loadbalancer/<name>, NLBs loadbalancer/net/<name>/<id>: one pattern covers both.
    elb_resources = [f"{elb}:loadbalancer/*", f"{elb}:targetgroup/*", f"{elb}:listener/*"]
    return [
        # CreateSecurityGroup is authorized against the VPC and the new group. A request-tag
        # condition cannot hold for the VPC half, so the fence is the cluster's own VPC; groups
        # created there without the cluster tag cannot be changed by this role afterwards.
        statement(
            "CcmCreateSecurityGroupsInClusterVpc",
            ["ec2:CreateSecurityGroup"],
            [f"{ec2}:vpc/{vpc_id}", f"{ec2}:security-group/*"],
        ),
        statement(
            "CcmTagSecurityGroupsOnCreate",
            ["ec2:CreateTags"],
            f"{ec2}:security-group/*",
            {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
        ),
        # Load-balancer security groups the CCM made, and the node security groups it opens for
        # NodePorts; Podium tags its node/control-plane groups with the cluster tag for this.
        statement(
            "CcmManageOwnedSecurityGroups",
            ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
            f"{ec2}:security-group/*",
            owned_resource,
        ),
        statement(
            "CcmCreateOwnedLoadBalancers",
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            [f"{elb}:loadbalancer/*", f"{elb}:targetgroup/*"],
            owned_request,
        ),
        statement(
            "CcmTagLoadBalancersOnCreate",
            ["elasticloadbalancing:AddTags"],
            elb_resources,
            {
                "StringEquals": {
                    "elasticloadbalancing:CreateAction": ["CreateListener", "CreateLoadBalancer", "CreateTargetGroup"]
                }
            },
        ),
        statement(
            "CcmManageOwnedLoadBalancers",
            [
                # classic ELB
                "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
                "elasticloadbalancing:AttachLoadBalancerToSubnets",
                "elasticloadbalancing:ConfigureHealthCheck",
                "elasticloadbalancing:CreateLoadBalancerListeners",
                "elasticloadbalancing:CreateLoadBalancerPolicy",
                "elasticloadbalancing:DeleteLoadBalancerListeners",
                "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
                "elasticloadbalancing:DetachLoadBalancerFromSubnets",
                "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
                "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
                # NLB
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:RegisterTargets",
                # both
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
            ],
            elb_resources,
            owned_resource,
        ),
    ]


def _ebs_csi_statements(*, partition: str, region: str, account_id: str, cluster_name: str) -> list[Statement]:
    ebs_tags = {EBS_CSI_CLUSTER_TAG: "true", cluster_tag_key(cluster_name): OWNED}
    request_tagged = {"StringEquals": {f"aws:RequestTag/{k}": v for k, v in ebs_tags.items()}}
    resource_tagged = {"StringEquals": {f"aws:ResourceTag/{k}": v for k, v in ebs_tags.items()}}
    volumes = f"arn:{partition}:ec2:{region}:{account_id}:volume/*"
    instances = f"arn:{partition}:ec2:{region}:{account_id}:instance/*"
    return [
        statement(
            "EbsCsiCreateTaggedEncryptedVolumes",
            ["ec2:CreateVolume"],
            volumes,
            {**request_tagged, "Bool": {"ec2:Encrypted": "true"}},
        ),
        statement(
            "EbsCsiTagVolumesOnCreate",
            ["ec2:CreateTags"],
            volumes,
            {"StringEquals": {"ec2:CreateAction": "CreateVolume"}},
        ),
        statement("EbsCsiManageOwnVolumes", ["ec2:DeleteVolume", "ec2:ModifyVolume"], volumes, resource_tagged),
        # Attach/Detach are authorized against the volume and the instance, each on its own tags:
        # both carry the cluster tag (the driver's volumes through k8sTagClusterId, Podium's
        # instances directly). Podium's etcd and root volumes do not, so they stay out of reach.
        statement(
            "EbsCsiAttachClusterVolumesToClusterInstances",
            ["ec2:AttachVolume", "ec2:DetachVolume"],
            [volumes, instances],
            {"StringEquals": {f"aws:ResourceTag/{cluster_tag_key(cluster_name)}": OWNED}},
        ),
    ]


def cloud_controller_policy(*, partition: str, region: str, account_id: str, cluster_name: str, vpc_id: str) -> Policy:
    """The AWS cloud controller's role (kube-system/cloud-controller-manager): node
    addresses and the uninitialized taint, NLBs for LoadBalancer Services."""
    check_literal(partition=partition, region=region, account_id=account_id, cluster_name=cluster_name, vpc_id=vpc_id)
    return policy_document(
        [
            # Describe calls define no resource types: IAM accepts only "*"; they change nothing.
            statement(
                "CloudControllerDescribe",
                [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstanceTopology",
                    "ec2:DescribeInstances",
                    "ec2:DescribeRegions",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeTags",
                    "ec2:DescribeVpcs",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeLoadBalancerPolicies",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ],
                "*",
            ),
            *_ccm_statements(
                partition=partition, region=region, account_id=account_id, cluster_name=cluster_name, vpc_id=vpc_id
            ),
        ]
    )


def ebs_csi_policy(*, partition: str, region: str, account_id: str, cluster_name: str) -> Policy:
    """The EBS CSI controller's role (kube-system/ebs-csi-controller-sa): this cluster's
    volumes, attached to this cluster's instances (tests compare it with the driver's
    documented policy)."""
    check_literal(partition=partition, region=region, account_id=account_id, cluster_name=cluster_name)
    return policy_document(
        [
            statement(
                "EbsCsiDescribe",
                [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstanceTypes",  # the attachment limit of the node's type
                    "ec2:DescribeInstances",
                    "ec2:DescribeTags",
                    "ec2:DescribeVolumeStatus",
                    "ec2:DescribeVolumes",
                    "ec2:DescribeVolumesModifications",
                ],
                "*",
            ),
            *_ebs_csi_statements(partition=partition, region=region, account_id=account_id, cluster_name=cluster_name),
        ]
    )


def control_plane_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    kms_key_arn: str,
    parameter_path: str,
    token_parameter: str,
    etcd_backup_bucket: str,
) -> Policy:
    """Inline policy for the control-plane role: what the node itself does at boot and
    run time (its PKI and the token from SSM, etcd snapshots to S3). The cloud controller
    and the EBS CSI controller have roles of their own (web identity).

    ``parameter_path`` is the control plane's own SSM prefix (``/podium/<env>/control-plane``);
    ``token_parameter`` is the join token's full SSM name (``/podium/<env>/join/token``).
    """
    check_literal(
        partition=partition,
        region=region,
        account_id=account_id,
        cluster_name=cluster_name,
        kms_key_arn=kms_key_arn,
        parameter_path=parameter_path,
        token_parameter=token_parameter,
        etcd_backup_bucket=etcd_backup_bucket,
    )
    _check_parameter_name("parameter_path", parameter_path)
    _check_parameter_name("token_parameter", token_parameter)

    def ssm_arn(name: str) -> str:
        return ssm_parameter_arn(partition=partition, region=region, account_id=account_id, name=name)

    bucket_arn = f"arn:{partition}:s3:::{etcd_backup_bucket}"
    snapshot_objects = f"{bucket_arn}/etcd/{cluster_name}/*"

    statements: list[Statement] = [
        *_ssm_read_statements(
            partition=partition,
            region=region,
            kms_key_arn=kms_key_arn,
            parameter_arns=[ssm_arn(f"{parameter_path}/*"), ssm_arn(token_parameter)],
            path_arns=[ssm_arn(parameter_path), ssm_arn(f"{parameter_path}/*")],
        ),
        # Write-only into this cluster's prefix: no read, list or delete, so a compromised
        # control plane cannot read other clusters' snapshots or erase its own.
        statement("EtcdSnapshotUpload", ["s3:AbortMultipartUpload", "s3:PutObject"], snapshot_objects),
        # SSE-KMS with this key is the bucket default: S3 asks KMS for a data key on upload, and
        # multipart uploads also need Decrypt. Context is the bucket ARN (bucket keys) or the object ARN.
        statement(
            "EtcdSnapshotEncrypt",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            kms_key_arn,
            {
                "StringEquals": {"kms:ViaService": f"s3.{region}.{_dns_suffix(partition)}"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, snapshot_objects]},
            },
        ),
    ]
    return policy_document(statements)


def node_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster_name: str,
    kms_key_arn: str,
    token_parameter: str,
) -> Policy:
    """Inline policy for worker nodes: the join token, nothing else (with the external
    cloud provider the kubelet calls no AWS API)."""
    check_literal(
        partition=partition,
        region=region,
        account_id=account_id,
        cluster_name=cluster_name,
        kms_key_arn=kms_key_arn,
        token_parameter=token_parameter,
    )
    _check_parameter_name("token_parameter", token_parameter)
    token_arn = ssm_parameter_arn(partition=partition, region=region, account_id=account_id, name=token_parameter)
    return policy_document(
        [
            *_ssm_read_statements(
                partition=partition,
                region=region,
                kms_key_arn=kms_key_arn,
                parameter_arns=[token_arn],
                path_arns=[],
            ),
        ]
    )


def log_group_arn(*, partition: str, region: str, account_id: str, log_group: str) -> str:
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group}"


def log_shipping_policy(*, partition: str, region: str, account_id: str, log_group: str) -> Policy:
    """Fluent Bit's role (logging/fluent-bit): new streams in the cluster's one log
    group, and events into them. The group exists (Pulumi made it, with its retention
    and key): no CreateLogGroup, no PutRetentionPolicy, nothing to read."""
    check_literal(partition=partition, region=region, account_id=account_id, log_group=log_group)
    group = log_group_arn(partition=partition, region=region, account_id=account_id, log_group=log_group)
    return policy_document(
        [statement("ShipLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{group}:log-stream:*")]
    )


def logs_service(partition: str, region: str) -> str:
    """CloudWatch Logs' service principal in a region (what a key policy names)."""
    return f"logs.{region}.{_dns_suffix(partition)}"


def hosted_zone_arn(*, partition: str, hosted_zone_id: str) -> str:
    return f"arn:{partition}:route53:::hostedzone/{hosted_zone_id}"


def acme_dns01_policy(*, partition: str, hosted_zone_id: str, hostname: str) -> Policy:
    """cert-manager's role (cert-manager/cert-manager), as its Route 53 guide writes it,
    narrowed to the one zone and to the one record a DNS-01 challenge for `hostname`
    writes: TXT `_acme-challenge.<hostname>`. No ListHostedZonesByName: the issuer names
    the zone."""
    check_literal(partition=partition, hosted_zone_id=hosted_zone_id, hostname=hostname)
    zone = hosted_zone_arn(partition=partition, hosted_zone_id=hosted_zone_id)
    return policy_document(
        [
            statement("SeeChanges", ["route53:GetChange"], f"arn:{partition}:route53:::change/*"),
            statement("ReadRecords", ["route53:ListResourceRecordSets"], zone),
            statement(
                "ChallengeRecord",
                ["route53:ChangeResourceRecordSets"],
                zone,
                {
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"],
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{hostname}"],
                    }
                },
            ),
        ]
    )


def external_dns_policy(*, partition: str, hosted_zone_id: str) -> Policy:
    """external-dns's role (external-dns/external-dns): the records of the one zone,
    and the zone list it filters (ListHostedZones takes no resource)."""
    check_literal(partition=partition, hosted_zone_id=hosted_zone_id)
    zone = hosted_zone_arn(partition=partition, hosted_zone_id=hosted_zone_id)
    return policy_document(
        [
            statement("ListZones", ["route53:ListHostedZones"], "*"),
            statement("ReadZone", ["route53:ListResourceRecordSets", "route53:ListTagsForResources"], zone),
            statement("KeepRecords", ["route53:ChangeResourceRecordSets"], zone),
        ]
    )


def autoscaling_group_arns(*, partition: str, region: str, account_id: str) -> str:
    """Every group of the account in the region: group ARNs carry a random id, so the
    statements that change groups are fenced by the cluster's tag instead."""
    return f"arn:{partition}:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/*"


def cluster_autoscaler_policy(*, partition: str, region: str, account_id: str, cluster_name: str) -> Policy:
    """The cluster autoscaler's role (kubernetes/autoscaler, cluster-autoscaler/cloudprovider/aws
    README): the reads its auto-discovery and node templates need, and the two changes it
    makes, only to groups tagged as this cluster's. No eks:DescribeNodegroup: these are not
    EKS node groups."""
    check_literal(partition=partition, region=region, account_id=account_id, cluster_name=cluster_name)
    return policy_document(
        [
            statement(
                "DiscoverGroups",
                [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "*",
            ),
            statement(
                "ScaleTheClustersGroups",
                ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                autoscaling_group_arns(partition=partition, region=region, account_id=account_id),
                {"StringEquals": {f"aws:ResourceTag/{autoscaler_tag_key(cluster_name)}": OWNED}},
            ),
        ]
    )


def termination_handler_policy(
    *, partition: str, region: str, account_id: str, cluster_name: str, queue_name: str
) -> Policy:
    """aws-node-termination-handler's role in queue mode (its README's policy, narrowed):
    read and delete the messages of the cluster's one queue, look up instances, and end
    the lifecycle action only of the cluster's groups."""
    check_literal(
        partition=partition, region=region, account_id=account_id, cluster_name=cluster_name, queue_name=queue_name
    )
    return policy_document(
        [
            statement(
                "LookUpInstances",
                ["autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeTags", "ec2:DescribeInstances"],
                "*",
            ),
            statement(
                "TakeTheClustersEvents",
                ["sqs:DeleteMessage", "sqs:ReceiveMessage"],
                f"arn:{partition}:sqs:{region}:{account_id}:{queue_name}",
            ),
            statement(
                "ReleaseDrainedInstances",
                ["autoscaling:CompleteLifecycleAction"],
                autoscaling_group_arns(partition=partition, region=region, account_id=account_id),
                {"StringEquals": {f"aws:ResourceTag/{autoscaler_tag_key(cluster_name)}": OWNED}},
            ),
        ]
    )


def early_retirement_policy(
    *, partition: str, region: str, account_id: str, cluster_name: str, log_group: str
) -> Policy:
    """The early-retirement function's role: its own log streams, the instance lookup,
    and terminating (never resizing) instances of the cluster's groups only."""
    check_literal(
        partition=partition, region=region, account_id=account_id, cluster_name=cluster_name, log_group=log_group
    )
    group = log_group_arn(partition=partition, region=region, account_id=account_id, log_group=log_group)
    return policy_document(
        [
            statement("WriteItsLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{group}:log-stream:*"),
            statement("FindTheGroups", ["autoscaling:DescribeAutoScalingInstances"], "*"),
            statement(
                "ReplaceTheClustersWorkers",
                ["autoscaling:TerminateInstanceInAutoScalingGroup"],
                autoscaling_group_arns(partition=partition, region=region, account_id=account_id),
                {"StringEquals": {f"aws:ResourceTag/{autoscaler_tag_key(cluster_name)}": OWNED}},
            ),
        ]
    )
