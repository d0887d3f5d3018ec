"""The rendered configuration on the lab's real Asterisk 22: clean boot, exact read-back, calls.

One Asterisk boot per site. Read-back uses a test-only AMI user appended to manager.conf (the
supervisor's own user may not run ShowDialPlan); the supervisor's user is checked to log in.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import netns, sipp, sipprobe
from lab.ami import LabAmi
from lab.asterisk import Asterisk, RunDir, directories_section, wait_until, write_config
from lab.fixtures import Started
from lab.netns import Lab
from lab.phones import PHONES_V6, Phones
from lab.pki import Ca
from lab.prometheus import http_get
from supervisor.render import Directories, Prometheus, RenderContext, render
from supervisor.render.acl import render_acl
from supervisor.render.extensions import DOORBELL_EXTENSIONS, NO_VOICEMAIL, group_box
from supervisor.security.events import IPNetwork
from supervisor.site.flowchecks import rung_endpoints
from supervisor.site.load import LoadedSite, load_site_dirs
from supervisor.site.model import Site
from supervisor.site.sections import VOICEMAIL_RESULT
from tests.supervisor.site.sites import EXAMPLES

pytestmark = pytest.mark.lab

PROVIDER_B_V6 = "2001:db8:5060::11"


@dataclass
class Pbx:
    lab: Lab
    run: RunDir
    loaded: LoadedSite
    context: RenderContext
    asterisk: Asterisk
    ami: LabAmi

    @property
    def site(self) -> Site:
        return self.loaded.site

    def listing(self, action: str, event: str) -> list[dict[str, str]]:
        return [m for m in self.ami.action({"Action": action}) if m.get("Event") == event]


def boot(
    lab: Lab,
    run: RunDir,
    started: Started,
    site_dir: Path,
    secret_dir: Path,
    prometheus: Prometheus | None = None,
    blocked: Sequence[IPNetwork] = (),
) -> Pbx:
    loaded = load_site_dirs([site_dir], [secret_dir])
    context = RenderContext(
        ami_secret=secrets.token_hex(16),
        run_user="asterisk",
        directories=Directories.from_mapping(directories_section(run)),
        prometheus=prometheus,
    )
    files = render(loaded, context, blocked)
    test_secret = secrets.token_hex(16)
    files["manager.conf"] += (
        f"\n[labtest]\nsecret = {test_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
        "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\n"
    )
    write_config(run, files)
    asterisk = Asterisk(lab, run).start()
    started.add(asterisk.stop)
    ami = LabAmi(lab.pod, "labtest", test_secret)
    started.add(ami.close)
    ami.connect()
    ami.wait_fully_booted()
    return Pbx(lab, run, loaded, context, asterisk, ami)


def copy_secrets(example: str, tmp_path: Path, **override: str) -> Path:
    target = tmp_path / "secrets"
    shutil.copytree(EXAMPLES / example / "secrets", target)
    for key, value in override.items():
        (target / key.replace("_", "-")).write_text(value + "\n")
    return target


def udp_listeners(lab: Lab, ports: set[int], flags: str = "-Hlun") -> set[str]:
    """Local UDP sockets in the pod on the given ports (Asterisk also holds a pair of
    ephemeral-port client sockets, pjproject's DNS resolver's, which are not SIP listeners);
    `flags="-Hltn"`: TCP listeners instead."""
    out = lab.run("pod", ["ss", flags]).stdout
    sockets = {line.split()[3] for line in out.splitlines() if line.strip()}
    return {s for s in sockets if int(s.rpartition(":")[2]) in ports}


def sip_ports(site: Site) -> set[int]:
    return {t.port for t in site.transports.values()}


def expected_binds(site: Site, stream: bool = False) -> set[str]:
    binds = set()
    for transport in site.transports.values():
        if (transport.protocol != "udp") != stream:
            continue
        address = site.addresses.of(transport.family)
        host = f"[{address}]" if transport.family == "ipv6" else address
        binds.add(f"{host}:{transport.port}")
    return binds


def expected_dialplan(site: Site) -> set[tuple[str, str]]:
    plan = site.dialplan
    out = {("extensions", number) for number in plan.extensions}
    out |= {("outbound", route.pattern) for route in plan.outbound}
    if plan.doorbell is not None:
        out |= {("doorbell", exten) for exten in DOORBELL_EXTENSIONS}
    out |= {(f"from-{name}", did) for name, trunk in site.trunks.items() for did in trunk.dids}
    if site.mailboxes():
        out |= {("extensions", site.voicemail.access), ("extensions", site.voicemail.access_any)}
        # The hangup handler that puts VoiceMail()'s result on the call record.
        out.add((VOICEMAIL_RESULT, "s"))
    if plan.pickup is not None:
        out.add(("extensions", plan.pickup))
    out |= {(f"ring-{name}", NO_VOICEMAIL) for name in plan.ring_groups if group_box(site, name)}
    out |= feature_dialplan(site)
    return out | {(f"ring-{name}", "s") for name in plan.ring_groups} | flow_dialplan(site)


def feature_dialplan(site: Site) -> set[tuple[str, str]]:
    """The phone feature codes (a forward code also as CODE + number) and each phone's ring."""
    features = site.dialplan.features
    if features is None or not site.featured_phones():
        return set()
    out = {("extensions", code) for code in features.codes().values()}
    out |= {("extensions", f"_{c}X.") for c in features.on_codes().values() if c is not None}
    rung = [name for name in site.featured_phones() if name in rung_endpoints(site)]
    if features.dnd_on is not None:  # the BLF hints of the phones' DND
        out |= {("extensions", f"dnd-{name}") for name in rung}
    return out | {("supervisor-phone", "s")}


def flow_dialplan(site: Site) -> set[tuple[str, str]]:
    """The call flows' extensions: menus, time conditions, announcements, screening, codes."""
    plan = site.dialplan
    out: set[tuple[str, str]] = set()
    for name, menu in plan.menus.items():
        out |= {(f"menu-{name}", e) for e in ("s", "i", "t", *menu.options)}
        if menu.direct_dial:
            out |= {(f"menu-{name}", number) for number in plan.extensions}
    for name, condition in plan.time_conditions.items():
        out |= {(f"time-{name}", e) for e in ("s", "open", "closed")}
        if condition.override is not None:
            out.add(("extensions", condition.override))
    out |= {(f"announce-{name}", "s") for name in plan.announcements}
    for trunk in site.trunks:
        if plan.screening is not None or site.trunks[trunk].country_code is not None:
            out.add((f"screen-{trunk}", "s"))
            if plan.screening is not None:
                out.add((f"screen-{trunk}", "blocked"))
    if plan.screening is not None:
        for code in (plan.screening.block_code, plan.screening.unblock_code):
            if code is not None:
                out.add(("extensions", f"_{code}X."))
    return out


def check_read_back(pbx: Pbx) -> None:
    site = pbx.site
    endpoints = {e["ObjectName"] for e in pbx.listing("PJSIPShowEndpoints", "EndpointList")}
    assert endpoints == set(site.endpoints) | set(site.trunks)
    registrations = {
        r["ObjectName"]: (r["ServerUri"], r["ClientUri"])
        for r in pbx.listing("PJSIPShowRegistrationsOutbound", "OutboundRegistrationDetail")
    }
    expected = {}
    for name, trunk in site.trunks.items():
        assert trunk.auth is not None
        host = f"[{trunk.hosts[0]}]:{pbx.site.trunk_port(name)}"
        expected[name] = (f"sip:{host}", f"sip:{trunk.auth.username}@{host}")
    assert registrations == expected
    assert udp_listeners(pbx.lab, sip_ports(site)) == expected_binds(site)
    assert udp_listeners(pbx.lab, sip_ports(site), "-Hltn") == expected_binds(site, stream=True)
    dialplan = {
        (e["Context"], e["Extension"])
        for e in pbx.listing("ShowDialPlan", "ListDialplan")
        if e.get("Registrar") == "pbx_config" and "Extension" in e
    }
    assert dialplan == expected_dialplan(site)
    # The supervisor's own user logs in and gets FullyBooted through its event filters.
    own = LabAmi(pbx.lab.pod, pbx.context.ami_username, pbx.context.ami_secret)
    try:
        own.connect()
        own.wait_fully_booted(5)
    finally:
        own.close()


def start_registrar(pbx: Pbx, started: Started, trunk: str, address: str) -> None:
    auth = pbx.site.trunks[trunk].auth
    assert auth is not None
    password = pbx.loaded.secrets[auth.password_secret]
    registrar = sipp.registrar(pbx.lab, pbx.run, address, auth.username, password)
    started.add(registrar.stop)


def statuses(pbx: Pbx) -> dict[str, str]:
    return {
        r["ObjectName"]: r["Status"]
        for r in pbx.listing("PJSIPShowRegistrationsOutbound", "OutboundRegistrationDetail")
    }


def dialled_endpoints(pbx: Pbx) -> set[str]:
    return {
        m.group(1)
        for e in pbx.ami.events
        if e.get("Event") == "DialBegin"
        and (m := re.match(r"PJSIP/(.+)-[0-9a-f]{8}$", e.get("DestChannel", "")))
    }


def test_home_site_boots_clean_registers_and_the_doorbell_rings_everyone(
    lab: Lab, run_dir: RunDir, started: Started, tmp_path: Path
) -> None:
    """examples/home: no ERROR/WARNING, exact read-back, trunk Registered (password with `;`),
    phones register, and a doorbell call dials exactly the ring group's endpoints."""
    secret_dir = copy_secrets("home", tmp_path, provider_password="lab;provider")
    pbx = boot(lab, run_dir, started, EXAMPLES / "home" / "site", secret_dir)
    start_registrar(pbx, started, "provider", netns.PROVIDER_V6)
    check_read_back(pbx)
    # The phones register (digest) and their ringers answer INVITEs and qualify OPTIONS; the
    # desk phone over TLS (its transport), the kitchen phone over UDP.
    phones = Phones(lab, run_dir)
    started.add(phones.stop)
    phone_ca = Ca("phones CA")
    phones.start_ringer()
    phones.start_ringer(tls=phone_ca.issue((PHONES_V6,)))
    for phone in ("desk", "kitchen"):
        auth = pbx.site.endpoints[phone].auth
        assert auth is not None
        accounts = {auth.username or phone: pbx.loaded.secrets[auth.password_secret]}
        over_tls = pbx.site.transports[pbx.site.endpoints[phone].transport or ""].protocol
        tls = phone_ca.issue((PHONES_V6,)) if over_tls == "tls" else None
        phones.register(accounts, tls=tls)
    contacts = {
        e["Endpoint"] for e in pbx.listing("PJSIPShowContacts", "ContactList") if e.get("Endpoint")
    }
    assert contacts == {"desk", "kitchen"}
    call = sipp.call(
        lab, run_dir, "doorbell", netns.DOORBELL_V4, f"{netns.POD_V4}:5060", "100", hold_ms=300
    )
    started.add(call.stop)
    assert call.wait(30) == 0, call.output()[-2000:]
    assert pbx.site.dialplan.doorbell is not None
    group = pbx.site.dialplan.ring_groups[pbx.site.dialplan.doorbell.ring]
    wait_until(lambda: dialled_endpoints(pbx) >= set(group.endpoints), 5, what="DialBegin")
    assert dialled_endpoints(pbx) == set(group.endpoints)
    wait_until(
        lambda: statuses(pbx) == {"provider": "Registered"}, 20, interval=0.5, what="Registered"
    )
    assert pbx.asterisk.problems() == [], pbx.asterisk.log_text()


def boot_doorbell_to_kitchen(
    lab: Lab, run_dir: RunDir, started: Started, tmp_path: Path, doorbell: str = ""
) -> Pbx:
    """examples/home with the doorbell ringing the kitchen phone directly (`doorbell`: more
    YAML for the doorbell endpoint), the kitchen phone registered and qualified."""
    site_dir = tmp_path / "site"
    shutil.copytree(EXAMPLES / "home" / "site", site_dir)
    text = (site_dir / "site.yaml").read_text().replace("ring: everyone  ", "ring: kitchen   ")
    if doorbell:
        text = text.replace("    context: doorbell\n", f"    context: doorbell\n{doorbell}", 1)
    (site_dir / "site.yaml").write_text(text)
    pbx = boot(lab, run_dir, started, site_dir, copy_secrets("home", tmp_path))
    assert pbx.site.dialplan.doorbell is not None
    assert pbx.site.dialplan.doorbell.ring == "kitchen"
    phones = Phones(lab, run_dir)
    started.add(phones.stop)
    auth = pbx.site.endpoints["kitchen"].auth
    assert auth is not None
    over_tls = pbx.site.transports[pbx.site.endpoints["kitchen"].transport or ""].protocol
    phone_ca = Ca("phones CA")
    tls = phone_ca.issue((PHONES_V6,)) if over_tls == "tls" else None
    phones.start_ringer(tls=tls)
    phones.register(
        {auth.username or "kitchen": pbx.loaded.secrets[auth.password_secret]},
        tls=phone_ca.issue((PHONES_V6,), client=True) if tls is not None else None,
    )
    wait_until(
        lambda: any(
            e.get("Endpoint") == "kitchen" and e.get("Status") == "Reachable"
            for e in pbx.listing("PJSIPShowContacts", "ContactList")
        ),
        15,
        what="the kitchen phone's contact, qualified",
    )
    return pbx


def first(pbx: Pbx, event: str, channel: str | None = None) -> dict[str, str] | None:
    """The first `event` seen (of `channel`, if given), or None."""
    for e in pbx.ami.events:
        if e.get("Event") == event and channel in (None, e.get("Channel")):
            return e
    return None


def hangup_of(pbx: Pbx, channel: str) -> dict[str, str]:
    """The Hangup event of `channel` (waits for it, 10 s at most)."""
    wait_until(
        lambda: any(
            e.get("Event") == "Hangup" and e.get("Channel") == channel for e in pbx.ami.events
        ),
        10,
        what=f"the Hangup of {channel}",
    )
    return next(
        e for e in pbx.ami.events if e.get("Event") == "Hangup" and e.get("Channel") == channel
    )


def test_a_doorbell_that_rings_one_phone_runs_nothing_after_the_hang_up(
    lab: Lab, run_dir: RunDir, started: Started, tmp_path: Path
) -> None:
    """After the hang-up Asterisk runs `h` in the doorbell's context: no pattern there matches
    it (before, the catch-all did and dialled the phone again as `h`), so nothing runs."""
    pbx = boot_doorbell_to_kitchen(lab, run_dir, started, tmp_path)
    call = sipp.call(
        lab, run_dir, "doorbell", netns.DOORBELL_V4, f"{netns.POD_V4}:5060", "100", hold_ms=300
    )
    started.add(call.stop)
    assert call.wait(30) == 0, call.output()[-2000:]
    doorbell = next(
        e["Channel"] for e in pbx.ami.events if e.get("Event") == "DialBegin" and e.get("Channel")
    )
    hangup_of(pbx, doorbell)
    ran = [
        (e.get("Extension"), e.get("Application"))
        for e in pbx.ami.events
        if e.get("Event") == "Newexten" and e.get("Channel") == doorbell
    ]
    # The phone rings through the feature subroutine (do-not-disturb, forwards: off here).
    ring = [("s", "GotoIf"), ("s", "GotoIf"), ("s", "Set"), ("s", "GotoIf"), ("s", "Dial")]
    named = [("100", "Set"), ("100", "Set"), ("100", "Gosub")]
    assert ran == [("100", "Set"), ("100", "ExecIf"), *named, *ring]


def test_a_call_limit_hangs_up_the_devices_call_at_the_limit(
    lab: Lab, run_dir: RunDir, started: Started, tmp_path: Path
) -> None:
    """A device with call_limit: 3 calls and talks on: Asterisk hangs the call up about 3 s
    after it started, from the device's own context (limit-doorbell, then doorbell)."""
    pbx = boot_doorbell_to_kitchen(lab, run_dir, started, tmp_path, "    call_limit: 3\n")
    assert pbx.site.endpoints["doorbell"].call_limit == 3
    call = sipp.call(
        lab, run_dir, "doorbell", netns.DOORBELL_V4, f"{netns.POD_V4}:5060", "100", hold_ms=10000
    )
    started.add(call.stop)
    wait_until(lambda: first(pbx, "DialBegin") is not None, 10, what="DialBegin")
    begin = first(pbx, "DialBegin")
    assert begin is not None
    doorbell = begin["Channel"]
    new = first(pbx, "Newchannel", doorbell)
    assert new is not None
    created = float(new["Timestamp"])
    ended = hangup_of(pbx, doorbell)
    lasted = float(ended["Timestamp"]) - created
    assert 2.9 <= lasted < 6.0, lasted
    contexts = [
        e.get("Context")
        for e in pbx.ami.events
        if e.get("Event") == "Newexten" and e.get("Channel") == doorbell
    ]
    assert contexts[0] == "limit-doorbell", contexts
    # Then its own context, which rings kitchen through the feature subroutine.
    assert contexts[contexts.index("doorbell") :][-1] == "supervisor-phone", contexts
    assert set(contexts) == {"limit-doorbell", "doorbell", "supervisor-phone"}, contexts


def test_two_trunk_site_boots_clean_and_both_register(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """examples/two-trunks: no ERROR/WARNING, exact read-back, both trunks Registered."""
    lab.add_address("provider", f"{PROVIDER_B_V6}/128")
    lab.run("router", ["ip", "-6", "route", "add", f"{PROVIDER_B_V6}/128", "dev", "prov0"])
    example = EXAMPLES / "two-trunks"
    pbx = boot(lab, run_dir, started, example / "site", example / "secrets")
    # Two registrars (one per provider address) on port 5060 each.
    start_registrar(pbx, started, "provider-a", netns.PROVIDER_V6)
    auth = pbx.site.trunks["provider-b"].auth
    assert auth is not None
    second = sipp.Sipp(lab, run_dir, "provider", [], name="registrar-b")
    template = (Path(sipp.SCENARIOS) / "registrar.xml").read_text()
    scenario = run_dir.path("scenarios") / "registrar-b.xml"
    scenario.parent.mkdir(exist_ok=True)
    from xml.sax.saxutils import escape

    scenario.write_text(
        template.replace("@USERNAME@", escape(auth.username)).replace(
            "@PASSWORD@", escape(pbx.loaded.secrets[auth.password_secret])
        )
    )
    second.args = ["-sf", run_dir.inside(scenario), "-i", PROVIDER_B_V6, "-p", "5060"]
    second.args += ["-t", "u1", "-m", "1000000"]
    second.start()
    started.add(second.stop)
    check_read_back(pbx)
    wait_until(
        lambda: set(statuses(pbx).values()) == {"Registered"},
        20,
        interval=0.5,
        what="both trunks Registered",
    )
    assert pbx.asterisk.problems() == [], pbx.asterisk.log_text()


def test_ipv4_only_site_boots_clean_with_only_an_ipv4_transport(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """examples/ipv4-only with res_prometheus: no ERROR/WARNING, only 203.0.113.10:5060 bound,
    exact read-back, and Asterisk's own metrics served on the configured loopback port."""
    example = EXAMPLES / "ipv4-only"
    prometheus = Prometheus(bind="127.0.0.1", port=8088)
    pbx = boot(lab, run_dir, started, example / "site", example / "secrets", prometheus)
    check_read_back(pbx)
    assert udp_listeners(lab, {5060}) == {f"{netns.POD_V4}:5060"}
    metrics = http_get("http://127.0.0.1:8088/metrics", lab.pod).decode()
    assert "asterisk_core_uptime_seconds" in metrics
    assert "asterisk_endpoints_count" in metrics
    assert pbx.asterisk.problems() == [], pbx.asterisk.log_text()


def named_acl(pbx: Pbx, name: str) -> list[IPNetwork]:
    """The deny rules of a named ACL as Asterisk holds them (`acl show NAME`)."""
    conf = pbx.run.inside(pbx.run.path("etc") / "asterisk.conf")
    argv = ["chroot", str(pbx.run.rootfs), "/usr/sbin/asterisk", "-C", conf, "-rx"]
    out = pbx.lab.run("pod", [*argv, f"acl show {name}"]).stdout
    rules = re.findall(r"^\s*\d+:\s+deny - (\S+)/(\S+)$", out, re.MULTILINE)
    return [
        ipaddress.ip_network((address, bin(int(ipaddress.ip_address(mask))).count("1")))
        for address, mask in rules
    ]


def test_ban_acl_reloads_alone_and_res_pjsip_enforces_it(
    lab: Lab, run_dir: RunDir, started: Started
) -> None:
    """Thousands of bans of every shape (IPv4 /32 /24, IPv6 /128 /64 /56 /48), packed several to
    a line in acl.conf, are the named ACL Asterisk holds, rule for rule; rewriting acl.conf and
    reloading module `acl` alone changes it, and res_pjsip then refuses a newly banned source
    (403) that it answered before: no res_pjsip reload needed."""
    v6 = ipaddress.ip_network("2001:db8:4000::/34")
    first: list[IPNetwork] = [
        *(ipaddress.ip_network(f"203.0.113.{i}/32") for i in range(0, 256, 3)),
        ipaddress.ip_network("198.51.100.128/25"),
        *(ipaddress.ip_network((int(v6.network_address) + (i << 80), 48)) for i in range(1000)),
        *(
            ipaddress.ip_network((int(v6.network_address) + (i << 72) + (1 << 94), 56))
            for i in range(1000)
        ),
        *(
            ipaddress.ip_network((int(v6.network_address) + (i << 64) + (2 << 94), 64))
            for i in range(1000)
        ),
        *(ipaddress.ip_network((int(v6.network_address) + i + (3 << 94), 128)) for i in range(500)),
    ]
    example = EXAMPLES / "home"
    pbx = boot(lab, run_dir, started, example / "site", example / "secrets", blocked=first)
    acl_conf = pbx.run.path("etc") / "acl.conf"
    assert acl_conf.read_text().count("\ndeny = ") > 1  # packed on several lines
    want = sorted(set(first), key=lambda n: (n.version, n))
    assert named_acl(pbx, "supervisor-blocked") == want
    answer = sipprobe.options_in(lab, "scanner", netns.SCANNER_V4, netns.POD_V4, timeout=2)
    assert answer is not None
    assert answer.status != 403

    second = [*first[1:], ipaddress.ip_network(f"{netns.SCANNER_V4}/32")]
    acl_conf.write_text(render_acl(second))
    reply = pbx.ami.action({"Action": "Reload", "Module": "acl"})
    assert reply[0].get("Response") == "Success", reply
    want = sorted(set(second), key=lambda n: (n.version, n))
    wait_until(lambda: named_acl(pbx, "supervisor-blocked") == want, 5, what="new named ACL")

    def refused() -> bool:
        answer = sipprobe.options_in(lab, "scanner", netns.SCANNER_V4, netns.POD_V4, timeout=1)
        return answer is not None and answer.status == 403

    wait_until(refused, 5, interval=0.05, what="res_pjsip refusing the newly banned source")
    # No rule refused by Asterisk's parser; the refusal's own warning is expected.
    problems = [p for p in pbx.asterisk.problems() if "did not pass ACL test" not in p]
    assert problems == [], pbx.asterisk.log_text()
