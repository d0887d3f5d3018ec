"""Read back over AMI that Asterisk runs what the rendered files declare.

A `Reload` of res_pjsip answers Success even for a broken file (the old object is kept, or a new
one is simply missing), so success is decided only by reading the objects back: endpoints, auths,
AORs and outbound registrations with their key fields, the dialplan pbx_config loaded, and the
voicemail boxes app_voicemail loaded.
Passwords are compared, never reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from supervisor.ami.types import AmiActions, Message
from supervisor.reload import conffile

log = logging.getLogger(__name__)

ACTION_TIMEOUT = 5.0

# Options whose value Asterisk reports back verbatim (names of other objects, URIs, plain text).
# `mailboxes` (the boxes whose MWI the endpoint gets) and `set_var` (its own box number for
# the access extension, its name for the feature codes) come back as written too.
ENDPOINT_FIELDS = (
    "context",
    "transport",
    "aors",
    "auth",
    "outbound_auth",
    "mailboxes",
    "set_var",
)
#: Options given once per value, which Asterisk reports joined by commas in any order
#: (`set_var`: one variable each, res_pjsip's set_var_to_str).
REPEATED_FIELDS = frozenset({"set_var"})
REGISTRATION_FIELDS = (
    "server_uri",
    "client_uri",
    "outbound_auth",
    "transport",
    "contact_user",
    "expiration",
    "retry_interval",
)
AUTH_FIELDS = ("username",)
SECRET_FIELDS = ("password",)


def camel(option: str) -> str:
    """Asterisk's ast_to_camel_case: `outbound_auth` -> `OutboundAuth` (AMI field names)."""
    return "".join(part[:1].upper() + part[1:] for part in option.split("_"))


def _norm(value: str) -> str:
    return ",".join(p.strip() for p in value.split(","))


async def _list(
    ami: AmiActions, action: Mapping[str, str], event: str, *, empty: str = ""
) -> list[Message]:
    reply = await ami.action(action, timeout=ACTION_TIMEOUT)
    if not reply:
        raise VerifyError(f"{action['Action']}: no response")
    head = reply[0]
    if head.get("Response") != "Success":
        message = head.get("Message", "")
        if empty and empty in message:
            return []
        if "permission denied" in message.lower():
            raise NotPermitted(action["Action"])
        raise VerifyError(f"{action['Action']}: {message or 'error'}")
    return [m for m in reply[1:] if m.get("Event") == event]


class VerifyError(Exception):
    """The read-back could not be done (AMI error)."""


class NotPermitted(VerifyError):
    """The AMI user may not send this read-back action (manager.conf `write=`): that check is
    skipped with a warning rather than failing every apply."""


_warned: set[str] = set()


async def _skippable(
    check: Callable[[AmiActions, str], Awaitable[list[str]]], ami: AmiActions, text: str
) -> list[str]:
    try:
        return await check(ami, text)
    except NotPermitted as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            log.warning("read-back skipped: the AMI user may not send %s", exc)
        return []


def _compare_names(kind: str, want: Sequence[str], have: Sequence[str]) -> list[str]:
    problems = []
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    if missing:
        problems.append(f"{kind} missing in Asterisk: {', '.join(missing)}")
    if extra:
        problems.append(f"{kind} still in Asterisk but not in the config: {', '.join(extra)}")
    return problems


def _compare_fields(
    kind: str,
    name: str,
    section: conffile.Section,
    live: Message,
    fields: Sequence[str],
    secret_fields: Sequence[str] = (),
) -> list[str]:
    problems = []
    for option in fields:
        want = section.get(option)
        if want is None:
            continue
        have = live.get(camel(option))
        if option in REPEATED_FIELDS:
            want = ",".join(v for k, v in section.options if k == option)
            if have is not None and sorted(_norm(have).split(",")) == sorted(want.split(",")):
                continue
        if have is not None and _norm(have) != _norm(want):
            problems.append(f"{kind} {name}: {option} is {have!r}, config says {want!r}")
    for option in secret_fields:
        want = section.get(option)
        if want is None:
            continue
        have = live.get(camel(option))
        if have is not None and have != want:
            problems.append(f"{kind} {name}: {option} differs from the config (not shown)")
    return problems


async def _verify_auths(ami: AmiActions, text: str) -> list[str]:
    problems: list[str] = []
    auths = conffile.objects(text, "auth")
    live_auths = {
        m["ObjectName"]: m
        for m in await _list(ami, {"Action": "PJSIPShowAuths"}, "AuthList", empty="No ")
    }
    problems += _compare_names("auths", list(auths), list(live_auths))
    for name, section in auths.items():
        if name in live_auths:
            problems += _compare_fields(
                "auth", name, section, live_auths[name], AUTH_FIELDS, SECRET_FIELDS
            )
    return problems


async def _verify_endpoints(ami: AmiActions, text: str, previous: str | None) -> list[str]:
    endpoints = conffile.objects(text, "endpoint")
    live = await _list(
        ami, {"Action": "PJSIPShowEndpoints"}, "EndpointList", empty="No endpoints found"
    )
    live_names = {m.get("ObjectName", "") for m in live}
    problems = _compare_names("endpoints", list(endpoints), list(live_names))
    before = conffile.objects(previous, "endpoint") if previous is not None else {}
    # Field values are read back for endpoints that are new or changed (one action each);
    # the others were verified when they last changed, and the name list shows they still exist.
    todo = [
        (name, section)
        for name, section in endpoints.items()
        if name in live_names
        and (previous is None or name not in before or before[name].options != section.options)
    ]

    async def detail(name: str, section: conffile.Section) -> list[str]:
        found = await _list(
            ami, {"Action": "PJSIPShowEndpoint", "Endpoint": name}, "EndpointDetail"
        )
        if not found:
            return [f"endpoint {name}: no details"]
        return _compare_fields("endpoint", name, section, found[0], ENDPOINT_FIELDS)

    for found in await asyncio.gather(*(detail(n, s) for n, s in todo)):
        problems += found
    return problems


async def _verify_aors(ami: AmiActions, text: str) -> list[str]:
    aors = conffile.objects(text, "aor")
    live = await _list(ami, {"Action": "PJSIPShowAors"}, "AorList", empty="No ")
    return _compare_names("aors", list(aors), [m.get("ObjectName", "") for m in live])


async def _verify_registrations(ami: AmiActions, text: str) -> list[str]:
    registrations = conffile.objects(text, "registration")
    live = {
        m.get("ObjectName", ""): m
        for m in await _list(
            ami,
            {"Action": "PJSIPShowRegistrationsOutbound"},
            "OutboundRegistrationDetail",
            empty="No ",
        )
    }
    problems = _compare_names("registrations", list(registrations), list(live))
    for name, section in registrations.items():
        if name in live:
            problems += _compare_fields(
                "registration", name, section, live[name], REGISTRATION_FIELDS
            )
    return problems


async def verify_pjsip(ami: AmiActions, text: str, previous: str | None = None) -> list[str]:
    """Problems found comparing pjsip.conf's endpoints, auths, AORs and registrations with
    Asterisk's; empty when everything declared is live as declared. With `previous` (the text
    before the change), endpoint fields are read back only for new or changed endpoints."""
    results = await asyncio.gather(
        _verify_endpoints(ami, text, previous),
        _skippable(_verify_auths, ami, text),
        _skippable(_verify_aors, ami, text),
        _verify_registrations(ami, text),
    )
    return [p for found in results for p in found]


async def verify_dialplan(ami: AmiActions, text: str) -> list[str]:
    """Problems found comparing extensions.conf's contexts, extensions and applications with the
    dialplan pbx_config loaded."""
    want = conffile.dialplan(text).contexts
    rows = await _list(ami, {"Action": "ShowDialPlan"}, "ListDialplan", empty="not find")
    have: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for row in rows:
        if row.get("Registrar") != "pbx_config" or "Extension" not in row:
            continue
        try:
            priority = int(row.get("Priority", ""))
        except ValueError:
            continue  # hints
        exts = have.setdefault(row["Context"], {})
        exts.setdefault(row["Extension"], []).append((priority, row.get("Application", "")))
    problems = _compare_names("dialplan contexts", list(want), list(have))
    for context, extens in want.items():
        live = have.get(context)
        if live is None:
            continue
        problems += _compare_names(f"extensions of {context}", list(extens), list(live))
        for exten, apps in extens.items():
            if exten not in live:
                continue
            live_apps = [app for _, app in sorted(live[exten])]
            if [a.lower() for a in live_apps] != [a.lower() for a in apps]:
                problems.append(
                    f"dialplan {context},{exten}: Asterisk runs {', '.join(live_apps)}; "
                    f"config says {', '.join(apps)}"
                )
    return problems


# voicemail.conf [general] options as VoicemailUsersList reports them on every box.
VOICEMAIL_GENERAL = (("maxmsg", "MaxMessageCount"), ("maxsecs", "MaxMessageLength"))
_NOT_BOX_CONTEXTS = {"general", "zonemessages"}


async def verify_voicemail(ami: AmiActions, text: str) -> list[str]:
    """Problems found comparing voicemail.conf's boxes (`number => pin,name`: the name and the
    shared limits; the PIN is not reported by Asterisk) with the boxes app_voicemail loaded. A
    broken voicemail.conf is answered "Module Reloaded" and the old boxes kept: only this
    read-back can tell."""
    sections = [s for s in conffile.parse(text) if not s.template]
    general = next((s for s in sections if s.name == "general"), conffile.Section("general"))
    want: dict[str, str] = {}
    for section in sections:
        if section.name in _NOT_BOX_CONTEXTS:
            continue
        for number, value in section.options:
            fields = value.split(",")
            want[f"{number}@{section.name}"] = fields[1].strip() if len(fields) > 1 else ""
    rows = await _list(
        ami, {"Action": "VoicemailUsersList"}, "VoicemailUserEntry", empty="voicemail users"
    )
    live = {f"{r.get('VoiceMailbox', '')}@{r.get('VMContext', '')}": r for r in rows}
    problems = _compare_names("voicemail boxes", list(want), list(live))
    for box, name in want.items():
        row = live.get(box)
        if row is None:
            continue
        if name and row.get("Fullname") not in (None, name):
            problems.append(
                f"voicemail box {box}: name is {row.get('Fullname')!r}, config says {name!r}"
            )
        for option, field in VOICEMAIL_GENERAL:
            limit = general.get(option)
            if limit is not None and row.get(field) not in (None, limit):
                problems.append(
                    f"voicemail box {box}: {option} is {row.get(field)!r}, config says {limit!r}"
                )
    return problems


async def verify(
    ami: AmiActions, files: Mapping[str, str], previous: Mapping[str, str] | None = None
) -> list[str]:
    """Read back every file we know how to check (concurrently); files without a read-back
    pass. `previous`: the files before the change, to limit per-object reads to what changed."""
    checks = []
    if "pjsip.conf" in files:
        before = previous.get("pjsip.conf") if previous is not None else None
        checks.append(verify_pjsip(ami, files["pjsip.conf"], before))
    if "extensions.conf" in files:
        checks.append(_skippable(verify_dialplan, ami, files["extensions.conf"]))
    if "voicemail.conf" in files:
        checks.append(_skippable(verify_voicemail, ami, files["voicemail.conf"]))
    results = await asyncio.gather(*checks)
    return [p for found in results for p in found]
