"""An AmiActions fake for the unit tests: on `Reload` it reads the config dir like Asterisk would
and answers the read-back actions from what it loaded. `keep_old` mimics res_pjsip keeping its
previous objects for a file it cannot use (while still answering Success).

It reads the files with its own small reader (below), not with the product's parser: the
read-back compares the product's reading of the rendered files with what "Asterisk" answers, and
answering with the same parser would check the parser against itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from supervisor.ami.types import AmiError, Message

Options = list[tuple[str, str]]


def sections(text: str) -> list[tuple[str, Options]]:
    """`[name]`, `[name](template,...)` and `[name](!)` sections with their `key = value` and
    `key => value` lines, as Asterisk's config loader reads them: `;` starts a comment unless
    escaped (`\\;`), templates are copied into the sections that name them and are not sections
    themselves."""
    found: list[tuple[str, Options, bool]] = []
    for raw in text.split("\n"):
        cut = next((i for i, c in enumerate(raw) if c == ";" and raw[i - 1 : i] != "\\"), None)
        line = (raw if cut is None else raw[:cut]).replace("\\;", ";").strip()
        if line.startswith("["):
            name, _, rest = line[1:].partition("]")
            parents = rest.strip().strip("()")
            template = parents == "!"
            inherited: Options = []
            for parent in [] if template or not parents else parents.split(","):
                inherited += next(o for n, o, _ in reversed(found) if n == parent.strip())
            found.append((name, list(inherited), template))
        elif "=" in line and found:
            key, _, value = line.partition("=")
            found[-1][1].append((key.strip(), value.removeprefix(">").strip()))
    return [(name, options) for name, options, template in found if not template]


def objects(text: str, kind: str) -> dict[str, dict[str, str]]:
    """pjsip.conf objects of one `type`, by name (options: the last value of each key)."""
    return {name: dict(o) for name, o in sections(text) if dict(o).get("type") == kind}


def dialplan(text: str) -> dict[str, dict[str, list[str]]]:
    """context -> extension -> its applications in priority order (hints left out)."""
    plan: dict[str, dict[str, list[str]]] = {}
    for context, options in sections(text):
        if context in ("general", "globals"):
            continue
        current = None
        for key, value in options:
            if key == "exten":
                current, priority, app = value.split(",", 2)
                if priority == "hint":
                    current = None
                    continue
            elif key == "same" and current is not None:
                app = value.split(",", 1)[1]
            else:
                continue
            plan.setdefault(context, {}).setdefault(current, []).append(app.split("(")[0])
    return plan


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
            eps = objects(self.pjsip, "endpoint")
            if not eps:
                return [{"Response": "Error", "Message": "No endpoints found"}]
            return [ok, *({"Event": "EndpointList", "ObjectName": n} for n in eps)]
        if name == "PJSIPShowEndpoint":
            sec = objects(self.pjsip, "endpoint")[act["Endpoint"]]
            detail = {"Event": "EndpointDetail", "ObjectName": act["Endpoint"]}
            detail.update(
                {"Context": sec.get("context") or "", "Transport": sec.get("transport") or ""}
            )
            return [ok, detail]
        if name == "PJSIPShowAuths":
            auths = objects(self.pjsip, "auth")
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
                *({"Event": "AorList", "ObjectName": n} for n in objects(self.pjsip, "aor")),
            ]
        if name == "PJSIPShowRegistrationsOutbound":
            regs = objects(self.pjsip, "registration")
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
            for ctx, extens in dialplan(self.extensions).items():
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
            boxes_by_context = sections(self.voicemail)
            limits = next((dict(o) for n, o in boxes_by_context if n == "general"), None)
            boxes: list[Message] = [
                {
                    "Event": "VoicemailUserEntry",
                    "VMContext": context,
                    "VoiceMailbox": number,
                    "Fullname": value.split(",")[1],
                    "MaxMessageCount": (limits.get("maxmsg") if limits else None) or "100",
                    "NewMessageCount": "0",
                    "OldMessageCount": "0",
                }
                for context, options in boxes_by_context
                if context != "general"
                for number, value in options
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
