"""The ASTM F3548-21 DSS on detente's intents: the rules, by entity, over one ``DssState``.

- ``oirs``: operational intent references (the key rule, OVNs, implicit subscriptions,
  notification indices; detente's priority rule against its own parties' intents);
- ``subscriptions``, ``constraints``, ``arbitration`` (USS availability, reports);
- ``state``: the regions served, with their indexes, rebuilt from ``store.dss`` at start;
- ``settings``: the ``[dss]`` table of a configuration; ``model``: entities and errors.
"""

from detente.service.dss import arbitration, constraints, oirs, subscriptions
from detente.service.dss.settings import DssSettings, parse_dss_settings
from detente.service.dss.state import DssState

__all__ = [
    "DssSettings",
    "DssState",
    "arbitration",
    "constraints",
    "oirs",
    "parse_dss_settings",
    "subscriptions",
]
