"""The demo's `explain` part: what `asterisk-supervisor explain` predicts for a call into
examples/home, printed next to the real call placed from the provider (lab/__main__.py)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from lab import dialer, netns
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import REPO
from supervisor.site.explain import explain
from supervisor.site.load import load_site_dirs

#: The home office's number, and a caller on the example's blocklist (in national form).
NUMBER = "+4930123458"
CALLER = "015100000001"
#: What chan_pjsip answers an unanswered call that Hangup(cause) ends.
SIP_OF_CAUSE = {"1": 404, "16": 480, "17": 486, "21": 603, "34": 503}


def explain_and_call(lab: Lab, run: RunDir, site: Path, say: Callable[[str], None]) -> bool:
    """Print the prediction, place the call, print what came back; whether they agree."""
    loaded = load_site_dirs([site], None)
    result = explain(loaded.site, NUMBER, caller=CALLER, at=datetime.datetime.now(datetime.UTC))
    shown = site.relative_to(REPO) if site.is_relative_to(REPO) else site
    say(f"explain: asterisk-supervisor explain {shown} --to {NUMBER} --from {CALLER}")
    for line in result.text().splitlines():
        say(f"  {line}")
    codes = dialer.dial(
        lab,
        run,
        "provider",
        netns.PROVIDER_V6,
        f"[{netns.POD_V6}]:5060",
        [("explain", NUMBER)],
        user=CALLER,
        name="explain-dialer",
        timeout_s=30,
    )
    got = codes.get("explain")
    want = SIP_OF_CAUSE.get(result.outcome.detail) if result.outcome.kind == "hangup" else None
    verdict = "as predicted" if got is not None and got == want else f"predicted SIP {want}"
    say(f"the real call: the provider called {NUMBER} from {CALLER}: SIP {got} ({verdict})")
    return got == want
