"""A minimal hand-written Asterisk config: test data for the lab's smoke tests (the product renders
its own from the site model)."""

from __future__ import annotations

from lab.asterisk import RunDir, directories_section
from lab.netns import DOORBELL_V4, POD_V4, POD_V6, PROVIDER_V6

MODULES = (
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_pjsip.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_session.so",
    "res_geolocation.so",
    "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_outbound_registration.so",
    "res_pjsip_sdp_rtp.so",
    "res_rtp_asterisk.so",
    "res_pjsip_caller_id.so",
    "pbx_config.so",
    "app_dial.so",
    "app_echo.so",
    "bridge_simple.so",
    "bridge_native_rtp.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "format_pcm.so",
    "res_timing_timerfd.so",
    "func_channel.so",
)


GLOBAL_AND_TRANSPORTS = f"""[global]
type = global
user_agent = asterisk-lab

[udp6]
type = transport
protocol = udp
bind = [{POD_V6}]:5060

[udp4]
type = transport
protocol = udp
bind = {POD_V4}:5060
"""


def provider_registration(
    trunk_user: str, trunk_password: str, *, expiration: int = 60, extra: str = ""
) -> str:
    """The provider's auth and outbound registration (over udp6), `extra` option lines added."""
    return f"""
[provider-auth]
type = auth
auth_type = userpass
username = {trunk_user}
password = {trunk_password}

[provider]
type = registration
transport = udp6
outbound_auth = provider-auth
server_uri = sip:[{PROVIDER_V6}]:5060
client_uri = sip:{trunk_user}@[{PROVIDER_V6}]:5060
contact_user = {trunk_user}
expiration = {expiration}
retry_interval = 5
{extra}"""


def config(
    run: RunDir, ami_user: str, ami_secret: str, trunk_user: str, trunk_password: str
) -> dict[str, str]:
    dirs = "\n".join(f"{k} => {v}" for k, v in directories_section(run).items())
    load = "\n".join(f"load = {m}" for m in MODULES)
    return {
        "asterisk.conf": f"[directories]\n{dirs}\n\n[options]\nrunuser = asterisk\n"
        "rungroup = asterisk\nverbose = 5\n",
        "modules.conf": f"[modules]\nautoload = no\n{load}\n",
        "logger.conf": "[general]\n[logfiles]\nconsole => notice,warning,error\n"
        "messages.log => notice,warning,error,verbose,debug\n",
        "manager.conf": "[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = 5038\n\n"
        f"[{ami_user}]\nsecret = {ami_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
        "permit = 127.0.0.1/255.255.255.255\nread = system,call,reporting\n"
        "write = system,reporting\n",
        "pjsip.conf": GLOBAL_AND_TRANSPORTS
        + provider_registration(trunk_user, trunk_password)
        + f"""
[doorbell]
type = endpoint
transport = udp4
context = doorbell
disallow = all
allow = ulaw,alaw

[doorbell]
type = identify
endpoint = doorbell
match = {DOORBELL_V4}
""",
        "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n[doorbell]\n"
        "exten => 100,1,Answer()\n same => n,Wait(1)\n same => n,Hangup()\n",
        "rtp.conf": "[general]\nrtpstart = 10000\nrtpend = 10100\n",
    }
