"""What the supervisor's AMI user may read and do: the single source for the rendered manager.conf
(the renderer writes it; the AMI client and the reload side act within it). A top-level module
because both sides use it and the renderer must not depend on the AMI package.

The renderer writes the supervisor's `[user]` section from these constants:

    read = system,call,security,dialplan   (READ_CLASSES)
    write = system,reporting      (WRITE_CLASSES)
    eventfilter(action(include),name(FullyBooted)) =
    eventfilter(action(include),name(Registry)) =
    ...                           (one line per name in EVENTS)
    eventfilter(action(include),name(VarSet),header(Variable),method(exact)) = RTPAUDIOQOS
                                  (one line per entry of HEADER_EVENTS)

Facts checked on the lab's Asterisk 22.10 (`manager show command X`, and by trying):

- An action is allowed when the user's write mask shares *any* class with the action's privilege.
  Privileges: Reload and GetConfig `system,config`; PJSIPShowRegistrationsOutbound, PJSIPQualify,
  CoreShowChannels, CoreStatus, CoreSettings `system,reporting`; PJSIPShowEndpoints,
  PJSIPShowEndpoint, PJSIPShowContacts, PJSIPShowAors, PJSIPShowAuths, PJSIPRegister, ModuleCheck,
  ModuleLoad `system`; Hangup `system,call`; Command `command` (not granted: it is a shell into the
  CLI and nobody needs it); Ping, Events, Logoff none; ShowDialPlan `config,reporting`;
  VoicemailUsersList `call,reporting`. So `write = system,reporting` covers every action in
  ACTIONS (reporting only for the read-backs of the dialplan and of the voicemail boxes);
  tests/supervisor/ami/test_ami_lab.py sends each one as this user.
- Events: FullyBooted, Shutdown, Reload, Registry and ContactStatus are class `system`; channel and
  bridge events are class `call`. The supervisor needs neither `cdr` (call outcomes come from
  channel and dial events) nor `reporting`/`dtmf`/`agent`/... events.
- Asterisk 22 accepts the advanced form `eventfilter(action(include),name(EventName)) =` (an empty
  value matches any event of that name; matched by hash, no regex). With any include filter
  present, every other event is dropped. Filters apply to events only: action responses and their
  list items (CoreShowChannel, ContactList, ...) still arrive. Every name in EVENTS was seen
  arriving through the filters (tests/supervisor/ami/test_ami_lab.py and the bench capture).
- `VarSet` is class `dialplan`. With the header form `eventfilter(action(include),name(VarSet),
  header(Variable),method(exact)) = RTPAUDIOQOS` only the VarSet of that one variable passes:
  chan_pjsip sets it once per channel with RTP, when the channel's session ends, with the
  channel's RTP counters (supervisor/ami/quality.py). Every other VarSet (about 6 per call) and
  every other `dialplan` event (Newexten, ...) stays filtered out.
- Effect (bench/reports/ami.md): about 60 AMI events per call for a `read = all` user without
  filters, 8 for this user, plus one RTPAUDIOQOS VarSet per answered PJSIP leg.
- PJSIPShowContacts lists registered contacts only ("No Contacts found" with static ones), so the
  client reads static contacts' status with PJSIPShowEndpoint (ContactStatusDetail).
"""

from __future__ import annotations

from typing import Final

from supervisor.security import events as security_events

#: Event classes for `read =`: `security` carries Asterisk's security events (failed logins,
#: unknown accounts, ACL refusals) for supervisor.security; `dialplan` carries VarSet, of which
#: only RTPAUDIOQOS passes the filters (HEADER_EVENTS).
READ_CLASSES: Final[tuple[str, ...]] = ("system", "call", "security", "dialplan")

#: Action classes for `write =`: `system` grants every action in ACTIONS but ShowDialPlan, which
#: needs `config` or `reporting` (read-only queries); nothing broader (no `command`, no
#: `originate`, no `config` writes).
WRITE_CLASSES: Final[tuple[str, ...]] = ("system", "reporting")

#: Exactly the actions the supervisor sends (Login aside): the AMI client's ping and re-sync, the
#: reload, its read-back and re-registration, the hang watchdog's probe. A unit test checks the
#: code sends no other, and the lab test that WRITE_CLASSES grants each of them.
ACTIONS: Final[tuple[str, ...]] = (
    # AMI client: ping (CoreStatus) and re-sync.
    "CoreStatus",
    "CoreSettings",
    "PJSIPShowRegistrationsOutbound",
    "PJSIPShowEndpoints",
    "PJSIPShowEndpoint",
    "PJSIPShowContacts",
    "CoreShowChannels",
    "BridgeList",
    # Reload: module reloads, read-back, re-registration after an auth change.
    "Reload",
    "PJSIPShowAuths",
    "PJSIPShowAors",
    "ShowDialPlan",
    "VoicemailUsersList",
    "PJSIPRegister",
    # The phones' do-not-disturb and forwards in astdb, for /status (ami/features.py).
    "DBGetTree",
    # Hang watchdog: is Asterisk's manager thread answering at all (Ping needs no class).
    "Ping",
)

#: The events the supervisor consumes: one `eventfilter(action(include),name(...)) =` each.
EVENTS: Final[tuple[str, ...]] = (
    # Asterisk lifecycle: others wait for FullyBooted before reloading; Reload triggers a re-sync.
    "FullyBooted",
    "Shutdown",
    "Reload",
    # Trunks and phones.
    "Registry",
    "ContactStatus",
    # Calls: active channels, direction, outcome, causes, durations.
    "Newchannel",
    "Newstate",
    "Hangup",
    "DialEnd",
    # asterisk_bridges_count.
    "BridgeCreate",
    "BridgeDestroy",
    # Security (class security): counted, and failures feed the ban policy.
    *security_events.SUBSCRIBED,
    # A voicemail box's counts changed (class call): re-read them (metrics/voicemail.py).
    "MessageWaiting",
)

#: Events the supervisor consumes only when one header has one exact value:
#: `eventfilter(action(include),name(EVENT),header(HEADER),method(exact)) = VALUE` each.
HEADER_EVENTS: Final[tuple[tuple[str, str, str], ...]] = (
    # Call quality: one channel's RTP statistics at its end (supervisor/ami/quality.py).
    ("VarSet", "Variable", "RTPAUDIOQOS"),
)
