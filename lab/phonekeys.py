"""Phone keys in the lab, played by sipp phones from the provider namespace's phone address:
a call that holds and takes back, a blind transfer (REFER), a plain call, a BLF subscription, and
packet counters (ip6tables in a namespace) that show RTP reaching a port."""

from __future__ import annotations

import re
from pathlib import Path

from lab import netns, sipp
from lab.asterisk import RunDir
from lab.netns import Lab
from lab.paths import SCENARIOS
from lab.phones import PHONES_V6


def _scenario(run: RunDir, template: str, name: str, values: dict[str, str]) -> str:
    text = (SCENARIOS / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    path = run.path("scenarios") / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return run.inside(path)


def phone(
    lab: Lab,
    run: RunDir,
    template: str,
    user: str,
    password: str,
    extension: str,
    *,
    values: dict[str, str],
    media_port: int | None = None,
    timeout_s: int = 40,
    trace: Path | None = None,
) -> sipp.Sipp:
    """Phone `user` (digest auth) runs scenario `template` towards `extension`, started."""
    name = f"{template.removesuffix('.xml')}-{user}-{extension.replace('*', 'x')}"
    scenario = _scenario(run, template, f"{name}.xml", {"USER": user, **values})
    extra = [] if media_port is None else ["-mp", str(media_port)]
    if trace is not None:
        trace.unlink(missing_ok=True)
        extra += ["-trace_msg", "-message_file", run.inside(trace)]
    target = f"[{netns.POD_V6}]:5060"
    args = sipp.phone_args(
        target,
        scenario,
        service=extension,
        user=user,
        password=password,
        source=PHONES_V6,
        timeout_s=timeout_s,
        extra=extra,
    )
    return sipp.Sipp(lab, run, "provider", args, name=name).start()


def blf(lab: Lab, run: RunDir, user: str, password: str, extension: str, log: Path) -> sipp.Sipp:
    """Phone `user` subscribes to `extension`'s dialog state; every NOTIFY is kept in `log`."""
    return phone(
        lab, run, "phone_blf.xml", user, password, extension, values={}, timeout_s=120, trace=log
    )


#: dialog-info `<state>` values in the order NOTIFYs carried them.
_STATE = re.compile(r"<state>([a-z]+)</state>")


def dialog_states(log: Path) -> list[str]:
    """The dialog state of every dialog-info NOTIFY body received so far ("" for no dialog: the
    extension is idle), in order."""
    if not log.exists():
        return []
    states = []
    for message in log.read_text(errors="replace").split("NOTIFY sip:")[1:]:
        body = message.split("<dialog-info", 1)
        if len(body) < 2:
            continue
        found = _STATE.search(body[1].split("</dialog-info>", 1)[0])
        states.append(found.group(1) if found else "")
    return states


class PacketCounter:
    """Counts UDP packets arriving at `address`:`port` in namespace `host` (an ip6tables or
    iptables rule whose counter is read; removed by `close`)."""

    def __init__(self, lab: Lab, host: str, address: str, port: int) -> None:
        self.lab, self.host = lab, host
        self.tool = "ip6tables" if ":" in address else "iptables"
        self.rule = ["INPUT", "-p", "udp", "-d", address, "--dport", str(port)]
        self.lab.run(host, [self.tool, "-I", *self.rule])

    def packets(self) -> int:
        out = self.lab.run(self.host, [self.tool, "-nvxL", "INPUT"]).stdout
        port = f"dpt:{self.rule[-1]}"
        for line in out.splitlines():
            if port in line and self.rule[4] in line:
                return int(line.split()[0])
        raise RuntimeError(f"no counter for {self.rule} in:\n{out}")

    def close(self) -> None:
        self.lab.run(self.host, [self.tool, "-D", *self.rule])


def stay(
    lab: Lab, run: RunDir, address: str, user: str, password: str, *, stay_s: int, name: str
) -> sipp.Sipp:
    """Phone `user` at `address` (provider namespace) registers and stays `stay_s` seconds on
    one socket, which also answers calls (talking: audio.pcap) and qualify OPTIONS."""
    scenario = _scenario(run, "phone_stay.xml", f"stay-{name}.xml", {"STAY_MS": str(stay_s * 1000)})
    answer = sipp.install_scenarios(run) / "uas_answer_audio.xml"
    args = [f"[{netns.POD_V6}]:5060", "-sf", scenario, "-s", user, "-au", user, "-ap", password]
    args += ["-i", address, "-p", "5060", "-m", "1", "-oocsf", run.inside(answer), "-aa"]
    args += ["-mp", "16020", "-d", "300"]
    return sipp.Sipp(lab, run, "provider", args, name=name).start()
