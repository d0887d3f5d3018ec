"""A site with every kind of call flow, for the flow tests (model, render, explain, lab)."""

from __future__ import annotations

import copy
from typing import Any

from tests.supervisor.site.sites import base

FLOWS: dict[str, Any] = {
    "extensions": {"11": "desk", "12": "kitchen", "20": "everyone", "30": "main"},
    "ring_groups": {"everyone": {"endpoints": ["desk", "kitchen"], "ring_time": 10}},
    "inbound": {"+4930123456": "office", "any": "closed-message"},
    "time_conditions": {
        "office": {
            "timezone": "Europe/Berlin",
            "open": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
            ],
            "holidays": ["2026-12-24..2026-12-26"],
            "when_open": "main",
            "when_closed": "voicemail:desk",
            "override": "*31",
        }
    },
    "menus": {
        "main": {
            "greeting": "hours",
            "options": {"1": "everyone", "2": "voicemail:desk", "9": "hangup:busy"},
            "on_timeout": "kitchen",
        }
    },
    "announcements": {"closed-message": {"sound": "im-sorry", "then": "hangup:rejected"}},
}
SECRETS = {
    "provider-password": "provider-secret",
    "desk-password": "desk-secret",
    "kitchen-password": "kitchen-secret",
    "desk-pin": "1234",
}


def flow_site() -> dict[str, Any]:
    """The base test site with a kitchen phone, a box on the desk and the flows above."""
    site = base()
    site["endpoints"]["desk"]["voicemail"] = {"pin_secret": "desk-pin"}
    site["endpoints"]["kitchen"] = {"auth": {"password_secret": "kitchen-password"}}
    site["dialplan"].update(copy.deepcopy(FLOWS))
    del site["dialplan"]["doorbell"]
    site["endpoints"]["doorbell"]["context"] = "local"
    return site
