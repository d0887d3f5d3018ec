"""An AmiActions fake for the unit tests: on `Reload` it reads the config dir like Asterisk would
and answers the read-back actions from what it loaded. `keep_old` mimics res_pjsip keeping its
previous objects for a file it cannot use (while still answering Success)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from supervisor.ami.types import AmiError, Message
from supervisor.reload import conffile


class FakeAsterisk:
    def __init__(self, etc: Path) -> None:
        self.etc = etc
        self.pjsip = ""
        self.extensions = ""
        self.voicemail = ""
        self.actions: list[dict[str, str]] = []
        self.keep_old = False
        self.pbx_error = False
        self.down = False
        self.read_texts: list[str] = []

    def boot(self) -> None:
        self.pjsip = (self.etc / "pjsip.conf").read_text()
        self.extensions = (self.etc / "extensions.conf").read_text()
        voicemail = self.etc / "voicemail.conf"
        self.voicemail = voicemail.read_text() if voicemail.exists() else ""

    @property
    def reloads(self) -> list[str]:
        return [a["Module"] for a in self.actions if a["Action"] == "Reload"]

    async def action(self, action: Mapping[str, str], *, timeout: float = 5.0) -> Sequence[Message]:
        if self.down:
            raise AmiError("not connected")
        act = dict(action)
        self.actions.append(act)
        name = act["Action"]
        ok: dict[str, str] = {"Response": "Success"}
        if name == "Reload":
            if act["Module"] == "res_pjsip.so":
                text = (self.etc / "pjsip.conf").read_text()
                self.read_texts.append(text)
                if not self.keep_old:
                    self.pjsip = text
            elif act["Module"] == "pbx_config.so":
                if self.pbx_error:
                    return [{"Response": "Error", "Message": "An unknown error occurred"}]
                self.extensions = (self.etc / "extensions.conf").read_text()
            elif act["Module"] == "app_voicemail.so" and not self.keep_old:
                self.voicemail = (self.etc / "voicemail.conf").read_text()
            return [{**ok, "Message": "Module Reloaded"}]
        if name == "PJSIPShowEndpoints":
            eps = conffile.objects(self.pjsip, "endpoint")
            if not eps:
                return [{"Response": "Error", "Message": "No endpoints found"}]
            return [ok, *({"Event": "EndpointList", "ObjectName": n} for n in eps)]
        if name == "PJSIPShowEndpoint":
            sec = conffile.objects(self.pjsip, "endpoint")[act["Endpoint"]]
            detail = {"Event": "EndpointDetail", "ObjectName": act["Endpoint"]}
            detail.update(
                {"Context": sec.get("context") or "", "Transport": sec.get("transport") or ""}
            )
            return [ok, detail]
        if name == "PJSIPShowAuths":
            auths = conffile.objects(self.pjsip, "auth")
            return [
                ok,
                *(
                    {
                        "Event": "AuthList",
                        "ObjectName": n,
                        "Username": s.get("username") or "",
                        "Password": s.get("password") or "",
                    }
                    for n, s in auths.items()
                ),
            ]
        if name == "PJSIPShowAors":
            return [
                ok,
                *(
                    {"Event": "AorList", "ObjectName": n}
                    for n in conffile.objects(self.pjsip, "aor")
                ),
            ]
        if name == "PJSIPShowRegistrationsOutbound":
            regs = conffile.objects(self.pjsip, "registration")
            return [
                ok,
                *(
                    {
                        "Event": "OutboundRegistrationDetail",
                        "ObjectName": n,
                        "ServerUri": s.get("server_uri") or "",
                        "ClientUri": s.get("client_uri") or "",
                    }
                    for n, s in regs.items()
                ),
            ]
        if name == "ShowDialPlan":
            rows: list[Message] = [ok]
            for ctx, extens in conffile.dialplan(self.extensions).contexts.items():
                for exten, apps in extens.items():
                    for i, app in enumerate(apps):
                        rows.append(
                            {
                                "Event": "ListDialplan",
                                "Context": ctx,
                                "Extension": exten,
                                "Priority": str(i + 1),
                                "Application": app,
                                "Registrar": "pbx_config",
                            }
                        )
            return rows
        if name == "VoicemailUsersList":
            sections = conffile.parse(self.voicemail)
            limits = next((s for s in sections if s.name == "general"), None)
            boxes: list[Message] = [
                {
                    "Event": "VoicemailUserEntry",
                    "VMContext": sec.name,
                    "VoiceMailbox": number,
                    "Fullname": value.split(",")[1],
                    "MaxMessageCount": (limits.get("maxmsg") if limits else None) or "100",
                    "NewMessageCount": "0",
                    "OldMessageCount": "0",
                }
                for sec in sections
                if sec.name != "general"
                for number, value in sec.options
            ]
            if not boxes:
                return [
                    {
                        "Response": "Error",
                        "Message": "There are no voicemail users currently defined.",
                    }
                ]
            return [ok, *boxes]
        if name == "PJSIPRegister":
            return [ok]
        return [{"Response": "Error", "Message": f"Invalid/unknown command: {name}"}]
