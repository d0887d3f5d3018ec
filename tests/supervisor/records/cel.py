"""CEL rows as Asterisk 22.10 wrote them in the lab (cel_sqlite3_custom with the product's
mapping, trimmed to its columns): an outbound answered call, an internal busy one, an internal
one nobody answered, and an inbound answered one."""

from __future__ import annotations

from supervisor.records.fold import CelRow

TRUNKS = {"provider": "provider"}


def row(
    event: str, t: float, uid: str, linkedid: str, chan: str, **kw: str
) -> tuple[str, float, str, str, str, str, str, str, str]:
    return (
        event,
        t,
        kw.get("num", ""),
        kw.get("exten", ""),
        chan,
        kw.get("app", ""),
        uid,
        linkedid,
        kw.get("extra", ""),
    )


def hangup(cause: int, dialstatus: str = "") -> str:
    return f'{{"hangupcause":{cause},"hangupsource":"","dialstatus":"{dialstatus}"}}'


OUTBOUND = [
    row("CHAN_START", 10.0, "1.5", "1.5", "PJSIP/doorbell-00000005", num="sipp", exten="20"),
    row("CHAN_START", 10.1, "1.6", "1.5", "PJSIP/provider-00000006", exten="s"),
    row("ANSWER", 10.5, "1.6", "1.5", "PJSIP/provider-00000006", app="AppDial"),
    row("ANSWER", 10.6, "1.5", "1.5", "PJSIP/doorbell-00000005", app="Dial", num="sipp"),
    row("HANGUP", 12.0, "1.6", "1.5", "PJSIP/provider-00000006", extra=hangup(16)),
    row("HANGUP", 12.1, "1.5", "1.5", "PJSIP/doorbell-00000005", extra=hangup(16, "ANSWER")),
    row("LINKEDID_END", 12.1, "1.5", "1.5", "PJSIP/doorbell-00000005"),
]
BUSY = [
    row("CHAN_START", 20.0, "1.7", "1.7", "PJSIP/doorbell-00000007", num="sipp", exten="11"),
    row("CHAN_START", 20.1, "1.9", "1.7", "PJSIP/phone2-00000009", exten="s"),
    row("HANGUP", 20.2, "1.9", "1.7", "PJSIP/phone2-00000009", extra=hangup(17)),
    row("HANGUP", 20.3, "1.7", "1.7", "PJSIP/doorbell-00000007", extra=hangup(17, "BUSY")),
    row("LINKEDID_END", 20.3, "1.7", "1.7", "PJSIP/doorbell-00000007"),
]
NO_ANSWER = [
    row("CHAN_START", 30.0, "1.1", "1.1", "PJSIP/doorbell-00000001", num="sipp", exten="12"),
    row("CHAN_START", 30.1, "1.8", "1.1", "PJSIP/phone3-00000008", exten="s"),
    row("HANGUP", 32.0, "1.8", "1.1", "PJSIP/phone3-00000008", extra=hangup(0)),
    row("HANGUP", 32.1, "1.1", "1.1", "PJSIP/doorbell-00000001", extra=hangup(0, "NOANSWER")),
    row("LINKEDID_END", 32.1, "1.1", "1.1", "PJSIP/doorbell-00000001"),
]
INBOUND = [
    row("CHAN_START", 40.0, "1.2", "1.2", "PJSIP/provider-00000002", num="+4930555", exten="100"),
    row("CHAN_START", 40.1, "1.4", "1.2", "PJSIP/phone1-00000004", exten="s"),
    row("ANSWER", 41.0, "1.4", "1.2", "PJSIP/phone1-00000004", app="AppDial"),
    row("ANSWER", 41.1, "1.2", "1.2", "PJSIP/provider-00000002", app="Dial", num="+4930555"),
    row("HANGUP", 45.0, "1.2", "1.2", "PJSIP/provider-00000002", extra=hangup(16, "ANSWER")),
    row("HANGUP", 45.1, "1.4", "1.2", "PJSIP/phone1-00000004", extra=hangup(16)),
    row("LINKEDID_END", 45.1, "1.4", "1.2", "PJSIP/phone1-00000004"),
]
VOICEMAIL = [
    row("CHAN_START", 50.0, "2.1", "2.1", "PJSIP/provider-0000000a", num="+4930777", exten="101"),
    row("ANSWER", 52.0, "2.1", "2.1", "PJSIP/provider-0000000a", app="VoiceMail"),
    # The hangup handler's CEL user event: its name is the event type, VMSTATUS its extra.
    row("VOICEMAIL", 70.0, "2.1", "2.1", "PJSIP/provider-0000000a", extra='{"extra":"SUCCESS"}'),
    row("HANGUP", 70.0, "2.1", "2.1", "PJSIP/provider-0000000a", extra=hangup(16, "NOANSWER")),
    row("LINKEDID_END", 70.0, "2.1", "2.1", "PJSIP/provider-0000000a"),
]


def cel_rows(rows: list[tuple[str, float, str, str, str, str, str, str, str]]) -> list[CelRow]:
    return [CelRow(*r) for r in rows]
