"""Dial a table of numbers at the PBX from one sipp, one call after another, and read back the
final response each got (the call-time safety test: hostile dialled strings).

Each call carries its case's name in the From display name (Asterisk shows it as
CallerIDName in AMI events; answers echo it), so the PBX's events and the answers map back to
the case.
The caller authenticates with digest when challenged (a phone) or not at all (an identified
trunk or doorbell); it ACKs any final answer, and hangs up an answered call at once.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from lab import sipp
from lab.asterisk import RunDir
from lab.netns import Lab

#: Final answers the caller expects (anything else: sipp aborts that call, the test sees no code).
FINAL = (400, 403, 404, 408, 410, 414, 415, 416, 420, 480, 481, 484, 485, 486, 487, 488)
FINAL += (500, 501, 502, 503, 603)

_INVITE = """
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field1]" <sip:@USER@@[remote_ip]:[remote_port]>;tag=[pid]dial[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: @CSEQ@ INVITE
      Contact: <sip:@USER@@[local_ip]:[local_port]>
      @AUTH@
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""
_ACK = """
  <send>
    <![CDATA[
      ACK sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: "[field1]" <sip:@USER@@[remote_ip]:[remote_port]>;tag=[pid]dial[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: @CSEQ@ ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
_ANSWERED = """
  <label id="answered@CSEQ@"/>
  <send>
    <![CDATA[
      ACK sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field1]" <sip:@USER@@[remote_ip]:[remote_port]>;tag=[pid]dial[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: @CSEQ@ ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      BYE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "[field1]" <sip:@USER@@[remote_ip]:[remote_port]>;tag=[pid]dial[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: @NEXT@ BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <nop next="end"/>
"""


def _attempt(cseq: int, auth: bool) -> str:
    """One INVITE and the answers to it; with `auth`, a 401 leads to the authenticated retry."""
    text = _INVITE.replace("@AUTH@", "[authentication]" if cseq == 2 else "")
    if auth and cseq == 1:
        text += '  <recv response="401" auth="true" optional="true" next="challenged"/>\n'
    text += f'  <recv response="200" optional="true" next="answered{cseq}"/>\n'
    for code in FINAL:
        text += f'  <recv response="{code}" optional="true" next="failed{cseq}"/>\n'
    # Nothing else is expected: a last mandatory receive makes sipp wait for one of the above.
    text += '  <recv response="199" next="end"/>\n'
    text += f'  <label id="failed{cseq}"/>\n' + _ACK + '  <nop next="end"/>\n'
    text += _ANSWERED
    return text.replace("@CSEQ@", str(cseq)).replace("@NEXT@", str(cseq + 1))


def scenario(user: str, *, auth: bool) -> str:
    """The caller's scenario: From `user`; with `auth` it answers a 401 challenge once."""
    body = _attempt(1, auth)
    if auth:
        challenge = '  <label id="challenged"/>\n' + _ACK.replace("@CSEQ@", "1")
        body += challenge + _attempt(2, auth)
    body += '  <label id="end"/>\n'
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="lab dialer">\n{body}</scenario>\n'
    )
    return text.replace("@USER@", user)


def _csv_field(value: str) -> str:
    if ";" in value or "\n" in value:
        raise ValueError(f"sipp's injection file cannot carry {value!r}")
    return value


def dial(
    lab: Lab,
    run: RunDir,
    host: str,
    source: str,
    target: str,
    cases: Sequence[tuple[str, str]],
    *,
    user: str,
    password: str | None = None,
    name: str = "dialer",
    timeout_s: float = 120,
) -> dict[str, int | None]:
    """Call each `(case name, dialled string)` of `cases` in turn from `source` in namespace
    `host` to `target` ("[addr]:port"); the final response code of each case (None: none
    recognised). `password`: digest credentials of `user` when challenged."""
    folder = run.path("scenarios")
    folder.mkdir(exist_ok=True)
    xml = folder / f"{name}.xml"
    xml.write_text(scenario(user, auth=password is not None))
    inf = folder / f"{name}.csv"
    rows = [f"{_csv_field(dialled)};{_csv_field(case)};" for case, dialled in cases]
    inf.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    messages = run.path("log") / f"{name}.messages"
    messages.unlink(missing_ok=True)
    args = [target, "-sf", run.inside(xml), "-inf", run.inside(inf), "-i", source, "-p", "0"]
    args += ["-m", str(len(cases)), "-l", "1", "-r", "20", "-recv_timeout", "8000"]
    args += ["-trace_msg", "-message_file", run.inside(messages), "-max_recv_loops", "1000"]
    if password is not None:
        args += ["-au", user, "-ap", password]
    caller = sipp.Sipp(lab, run, host, args, name=name).start()
    try:
        caller.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pass  # the cases without an answer show as None
    finally:
        caller.stop()
    return final_codes(messages, [case for case, _ in cases])


_RESPONSE = re.compile(r"^SIP/2\.0 (\d{3}) ", re.MULTILINE)
_FROM = re.compile(r'^From:\s*"([^"]*)"', re.MULTILINE)
_CSEQ = re.compile(r"^CSeq:\s*\d+ INVITE", re.MULTILINE)


def final_codes(messages: Path, cases: Sequence[str]) -> dict[str, int | None]:
    """The last final (>= 200) INVITE response each case received, from sipp's message log."""
    text = messages.read_text(errors="replace") if messages.exists() else ""
    found: dict[str, int | None] = dict.fromkeys(cases)
    for block in re.split(r"\n-{5,}[^\n]*\n", text):
        response = _RESPONSE.search(block)
        call = _FROM.search(block)
        if response is None or call is None or not _CSEQ.search(block):
            continue
        code = int(response.group(1))
        case = call.group(1)
        if code >= 200 and code != 401 and case in found:
            found[case] = code
    return found
