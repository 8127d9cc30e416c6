"""Murmur's fan-out autoscaler: `kopf run -m murmur_operator` (see docs/operator.md).

Importing the package registers the handlers with kopf.
"""

from murmur_operator import handlers as handlers
