"""The one explicit AWS provider every AWS resource uses."""

from __future__ import annotations

import pulumi_aws as aws

from components.config.settings import Settings

MANAGED_BY = "pulumi/podium"


def stack_tag(settings: Settings) -> dict[str, str]:
    """The default tag that tells this stack's resources from every other stack's."""
    return {"environment": settings.environment}


def default_tags(settings: Settings) -> dict[str, str]:
    """User tags plus Podium's own. Settings refuse user keys that would collide."""
    return {**settings.tags, **stack_tag(settings), "managed-by": MANAGED_BY}


def aws_provider(settings: Settings) -> aws.Provider:
    # Default tags go through the provider, not a stack transform: transforms do not
    # run under mocks. They reach only what Pulumi creates and that has a tags map:
    # not what an ASG launches, nor the ASG (NodeGroup writes them into its launch
    # template and onto the group), nor what controllers in the cluster create.
    return aws.Provider(
        "aws",
        region=settings.aws_region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(settings)),
    )
