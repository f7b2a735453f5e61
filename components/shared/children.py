"""How a component's helper modules register resources: under the component itself
(the same parent, so the same URNs as if the component had made them), and protected
where the stack protects what is stateful or hard to rebuild."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True)
class Children:
    parent: pulumi.Resource
    name: str  # the component's name: the prefix of its children's names
    protect: bool  # deletionProtection

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, **kwargs)

    def keep(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Stateful or hard to rebuild: protected when deletionProtection is on."""
        return pulumi.ResourceOptions(parent=self.parent, protect=self.protect, **kwargs)

    def invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(parent=self.parent)
