"""A second look at a site whose fields did not all validate: drop the entries that failed
(an endpoint, a trunk, a route, ...) and check the rest, so that reference, family and Secret
problems are reported together with the field problems instead of on the next run.

Findings that could come from a dropped entry (a reference to it, a DID of a dropped trunk, a
transport of a dropped transport's family) are left out, to report nothing false.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from supervisor.site.yamlsource import Path

COLLECTIONS = ("endpoints", "trunks", "transports")
KEYED = ("extensions", "inbound", "ring_groups", "menus", "time_conditions", "announcements")
# Dropping a flow can leave others unreachable, or a whole part of them unknown.
FLOW_PARTS = ("menus", "time_conditions", "announcements")


@dataclass
class Pruned:
    data: dict[str, Any]
    names: set[str] = field(default_factory=set)
    trunk_dropped: bool = False
    transport_dropped: bool = False
    flow_dropped: bool = False

    def keeps(self, message: str) -> bool:
        """Whether a finding on the pruned site is certainly not caused by the pruning."""
        if self.trunk_dropped and "dids" in message:
            return False
        if self.transport_dropped and "transport" in message:
            return False
        if self.flow_dropped and ("unreachable" in message or "ring group or flow" in message):
            return False
        words = set(re.findall(r"[A-Za-z0-9_.+-]+", message))
        return not words & self.names


def prune(data: dict[str, Any], failed: Sequence[Path]) -> Pruned | None:
    """`data` without the entries at or above each failed path; None if a failure cannot be
    cut out (the addresses, or a whole collection of the wrong type)."""
    out = Pruned(copy.deepcopy(data))
    for path in failed:
        if not path or path[0] == "addresses":
            return None
        head = path[0]
        if head in COLLECTIONS:
            if len(path) < 2 or not isinstance(out.data.get(head), dict):
                return None
            out.data[head].pop(path[1], None)
            out.names.add(str(path[1]))
            out.trunk_dropped |= head == "trunks"
            out.transport_dropped |= head == "transports"
        elif head == "dialplan" and len(path) >= 2:
            plan = out.data.get("dialplan")
            if not isinstance(plan, dict):
                return None
            part = path[1]
            out.flow_dropped |= part in FLOW_PARTS
            if part in KEYED and len(path) >= 3 and isinstance(plan.get(part), dict):
                plan[part].pop(path[2], None)
                out.names.add(str(path[2]))
            else:
                # Whole parts, and all outbound routes (dropping one would renumber the rest).
                # A keyed part dropped whole (1,001 ring groups: too many) takes its names with
                # it: a reference to one of them is not unknown, only not checked.
                whole = plan.pop(str(part), None)
                if part in KEYED and isinstance(whole, dict):
                    out.names.update(str(name) for name in whole)
        else:
            out.data.pop(str(head), None)
    return out
