"""Podium's policy pack: `pulumi preview --policy-pack policy` (README: policy as code)."""

from podium_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="podium", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
