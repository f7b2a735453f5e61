"""Where stacks created before the layout by stage find their readiness gate's provider.

Pulumi keeps a dynamic resource's provider in the state pickled by reference: this
module's path and the class name. Refresh and delete (so `pulumi destroy`) of such a
gate unpickle it from `components.readiness._ReadinessProvider` until an update
rewrites the reference. So this path stays, whatever moves (tests/test_readiness.py
pins it).
"""

from components.cluster.readiness import _ReadinessProvider

__all__ = ["_ReadinessProvider"]
