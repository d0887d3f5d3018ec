"""The files around the PBX: asterisk.conf, modules.conf, logger.conf, manager.conf, rtp.conf,
http.conf/prometheus.conf, and the small files core modules look for at boot (without them
Asterisk logs errors or warnings on every start)."""

from __future__ import annotations

from supervisor import amiaccess
from supervisor.asterisk_facts import facts
from supervisor.render import records
from supervisor.render.conf import GENERATED, document, section
from supervisor.render.context import RenderContext
from supervisor.site.grammar import escape_value
from supervisor.site.model import Site
from supervisor.site.uses import dialplan_uses, needs, pjsip_needs

# Always loaded: what a PJSIP PBX with registrations, digest auth, identify-by-IP, a dialplan
# with Dial and CALLERID, and bridged RTP calls needs. chan_pjsip needs res_pjsip_pubsub and
# res_pjsip needs res_geolocation (both learned in the lab).
BASE_MODULES = (
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_geolocation.so",
    "res_pjsip.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_session.so",
    "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_acl.so",  # the security guard's deny ACL
    "res_pjsip_outbound_registration.so",
    "res_pjsip_registrar.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_caller_id.so",
    "res_rtp_asterisk.so",
    "res_timing_timerfd.so",
    "pbx_config.so",
    "app_dial.so",
    "func_callerid.so",
    "func_channel.so",
    # Call-time safety (render/callsafe.py): REPLACE, FIELDQTY and FILTER; ExecIf.
    "func_strings.so",
    "app_exec.so",
    "bridge_simple.so",
    "bridge_native_rtp.so",
    # Voicemail, always loaded (adding the first box is then a reload, not a restart): the
    # plain file-spool app_voicemail (app_voicemail_odbc/_imap would collide with it), MWI
    # NOTIFYs, WAV messages and the GSM prompts it plays.
    "app_voicemail.so",
    "res_pjsip_mwi.so",
    "res_pjsip_mwi_body_generator.so",
    "format_wav.so",
    "format_gsm.so",
    "codec_gsm.so",
    # Phone keys, always loaded (a phone turning them on is then a reload): Transfer (SIP
    # REFER, blind and attended), Hold (music on hold), BLF/presence subscriptions to
    # extension hints (dialog-info, PIDF and XPIDF bodies), call pickup.
    "res_pjsip_refer.so",
    "res_musiconhold.so",
    "res_pjsip_exten_state.so",
    "res_pjsip_dialog_info_body_generator.so",
    "res_pjsip_pidf_body_generator.so",
    "res_pjsip_xpidf_body_generator.so",
    "app_directed_pickup.so",
    # The site's audio files (docs/audio.md), loaded always so that a first file of a new
    # form is a reload, not a restart: raw G.711 (.ulaw, .alaw) beside format_wav's .wav and
    # .wav16, and 16 kHz to 8 kHz for a .wav16 played to a narrowband call.
    "format_pcm.so",
    "codec_resample.so",
    # Phones behind NAT (rewrite_contact, force_rport): loaded always, so a phone moving behind
    # a router is a reload.
    "res_pjsip_nat.so",
)
#: Codec -> the image's module that transcodes it; None: passed through only (no translator in
#: the image, or video, which Asterisk never transcodes).
CODEC_MODULES: dict[str, str | None] = {
    "ulaw": "codec_ulaw.so",
    "alaw": "codec_alaw.so",
    "g722": "codec_g722.so",
    "gsm": "codec_gsm.so",
    "g726": "codec_g726.so",
    "opus": "codec_opus_open_source.so",
    "speex": "codec_speex.so",
    "g729": None,
    "h264": None,
    "h263": None,
    "vp8": None,
    "vp9": None,
}
PROMETHEUS_MODULES = ("res_prometheus.so",)


def modules(site: Site, context: RenderContext, dialplan: str = "") -> list[str]:
    """What modules.conf loads: the base, the codecs and SRTP the site uses, the modules
    providing every application and function of `dialplan` (the rendered extensions.conf with
    its raw snippet) and every object type of the raw pjsip.conf, the site's own `modules`, and
    everything these need first (from Asterisk's documentation)."""
    used = {c for t in site.trunks.values() for c in t.codecs}
    used |= {c for e in site.endpoints.values() for c in e.codecs}
    names = list(BASE_MODULES)
    codecs = [CODEC_MODULES[c] for c in sorted(used | {"ulaw", "alaw"})]
    names += [m for m in codecs if m is not None and m not in names]  # codec_gsm is a base module
    encrypted = [t.media_encryption for t in site.trunks.values()]
    encrypted += [e.media_encryption for e in site.endpoints.values()]
    if any(encrypted):
        names.append("res_srtp.so")
    if context.prometheus is not None:
        names += PROMETHEUS_MODULES
    names += (m if m.endswith(".so") else f"{m}.so" for m in site.modules)
    names += records.modules(site)  # every call on the record (docs/records.md)
    # Problems of the site's names were refused by the loader; only the modules are taken here.
    found = needs(dialplan_uses(dialplan), names).modules
    found += pjsip_needs(site.raw.get("pjsip.conf", "")).modules
    names += (f"{m}.so" for m in found)
    ordered = facts().closure(m.removesuffix(".so") for m in names)
    return [f"{m}.so" for m in ordered]


def render_asterisk(context: RenderContext) -> str:
    options = []
    if context.run_user is not None:
        options += [("runuser", context.run_user), ("rungroup", context.run_user)]
    options += [("verbose", "0"), ("nocolor", "yes"), ("hideconnect", "yes")]
    return document(
        GENERATED,
        [
            section("directories", context.directories.items(), arrow=True),
            section("options", options),
        ],
    )


def render_modules(site: Site, context: RenderContext, dialplan: str = "") -> str:
    load = [("autoload", "no")] + [("load", name) for name in modules(site, context, dialplan)]
    return document(GENERATED, [section("modules", load)])


def render_logger() -> str:
    # One line per message on stdout (`asterisk -f`): what Kubernetes collects. No log files.
    return document(
        GENERATED,
        [
            section("general", [("dateformat", "%F %T.%3q"), ("use_callids", "yes")]),
            section("logfiles", [("console", "notice,warning,error")], arrow=True),
        ],
    )


def render_manager(context: RenderContext) -> str:
    user = [
        ("secret", escape_value(context.ami_secret)),
        ("deny", "0.0.0.0/0.0.0.0"),
        ("permit", "127.0.0.1/255.255.255.255"),
        ("read", ",".join(amiaccess.READ_CLASSES)),
        ("write", ",".join(amiaccess.WRITE_CLASSES)),
        ("writetimeout", "1000"),
    ]
    user += [(f"eventfilter(action(include),name({event}))", "") for event in amiaccess.EVENTS]
    user += [
        (f"eventfilter(action(include),name({event}),header({header}),method(exact))", value)
        for event, header, value in amiaccess.HEADER_EVENTS
    ]
    return document(
        GENERATED,
        [
            section(
                "general",
                [
                    ("enabled", "yes"),
                    ("webenabled", "no"),
                    ("bindaddr", "127.0.0.1"),
                    ("port", context.ami_port),
                    ("displayconnects", "no"),
                    # Every event carries Asterisk's own `Timestamp`: call durations and answer
                    # delays are taken from it, so a backlog on our side does not stretch them.
                    ("timestampevents", "yes"),
                ],
            ),
            section(context.ami_username, user),
        ],
    )


#: rtp.conf `rtcpinterval` (milliseconds; Asterisk's minimum is 500, its default 5000).
RTCP_INTERVAL_MS = 1000


def render_rtp(site: Site, context: RenderContext) -> str:
    """rtp.conf: the site's port range, kept inside the context's (what the pod opens)."""
    start = max(site.rtp.start, context.rtp_start)
    end = min(site.rtp.end, context.rtp_end)
    return document(
        GENERATED,
        [
            section(
                "general",
                [
                    ("rtpstart", start),
                    ("rtpend", end),
                    # Asterisk's received-loss counter (RTPAUDIOQOS `lp`, ami/quality.py) moves
                    # only when it sends an RTCP report: every second instead of every 5 s keeps
                    # a call's loss ratio within a second of its end (docs/call-quality.md);
                    # ~100 bytes/s per call.
                    ("rtcpinterval", RTCP_INTERVAL_MS),
                    # No NAT anywhere: ICE would gather host candidates by resolving the host
                    # name and A.ROOT-SERVERS.NET (errors in a pod without DNS for them).
                    ("icesupport", "no"),
                ],
            )
        ],
    )


def render_http(context: RenderContext) -> str:
    if context.prometheus is None:
        return document(GENERATED, [section("general", [("enabled", "no")])])
    return document(
        GENERATED,
        [
            section(
                "general",
                [
                    ("enabled", "yes"),
                    ("bindaddr", context.prometheus.bind),
                    ("bindport", context.prometheus.port),
                ],
            )
        ],
    )


def render_prometheus() -> str:
    return document(
        GENERATED,
        [
            section(
                "general",
                [("enabled", "yes"), ("core_metrics_enabled", "yes"), ("uri", "metrics")],
            )
        ],
    )


def quiet_files() -> dict[str, str]:
    """Files core modules read at boot, kept minimal: CDR off (the record is CEL's:
    render/records.py), empty feature/UDPTL/CCSS/geolocation/pjproject settings, and
    one tone set."""
    return {
        "cdr.conf": document(GENERATED, [section("general", [("enable", "no")])]),
        "features.conf": document(GENERATED, [section("general", [])]),
        "udptl.conf": document(GENERATED, [section("general", [])]),
        "ccss.conf": document(GENERATED, [section("general", [])]),
        "geolocation.conf": document(GENERATED, []),
        "pjproject.conf": document(GENERATED, [section("startup", [])]),
        "stasis.conf": document(
            GENERATED,
            [
                section(
                    "threadpool",
                    [("initial_size", 5), ("idle_timeout_sec", 20), ("max_size", 50)],
                )
            ],
        ),
        "indications.conf": document(
            GENERATED,
            [
                section("general", [("country", "us")]),
                section(
                    "us",
                    [
                        ("description", "United States / North America"),
                        ("ringcadence", "2000,4000"),
                        ("dial", "350+440"),
                        ("busy", "480+620/500,0/500"),
                        ("ring", "440+480/2000,0/4000"),
                        ("congestion", "480+620/250,0/250"),
                        ("callwaiting", "440/300,0/10000"),
                        ("dialrecall", "!350+440/100,!0/100,!350+440/100,!0/100,350+440"),
                        ("record", "1400/500,0/15000"),
                        ("info", "!950/330,!1400/330,!1800/330,0"),
                    ],
                ),
            ],
        ),
    }
