"""supervisor.confparse reads config text exactly as the lab's real Asterisk 22 does: tricky
texts (CR, VT, FF, U+0085, U+2028, tabs, `\\;`, mid-line `;--`, stray `--;`, `=>`, `+=`, unknown
directives, unclosed headers, over-long lines) and a derandomized batch of generated ones are
written to a file that Asterisk reads with AMI GetConfig; both readings must agree."""

from __future__ import annotations

import random
import re
import socket

import pytest

from lab import netns
from lab.asterisk import write_config
from lab.fixtures import MinimalPbx
from supervisor.confparse import Directive, Flaw, Header, Setting, parse

pytestmark = pytest.mark.lab

# Each category Asterisk lists (templates are not listed) with its "name=value" lines.
Reading = list[tuple[str, list[str]]] | None

FIXED = [
    "[a]\nx = 1 ; comment\ny => 2\n",
    "[a]\nx = pa\\;ss\\;\\;w\n",
    "[a]\nx = 1 ;-- block --; 2\n",
    "[a]\nx = 1 ;-- open\n[b]\ny = 2\nstill --; z = 3\nw = 4\n",
    "[a]\nx = 1\r[b]\ny = 2\n",
    "[a]\nx = \x0b\x0c1\t\n\ty\t=\t2\t\n",
    "[a]\nx = 1\u2028[b]\nu = é\u0085\n",
    "[a]\nx = 1\n--;\n[b]\ny = 2\n",
    "[a]\nx = 1 ;--- not a block\ny = 2\n",
    "[a](!)\nx = 1\n[b]\ny = 2\n",
    "[a]\n#bogus thing\n#exec /bin/true\n#tryinclude nothere.conf\nx = 1\n",
    "[a]\nno equals here\n= novalue\nx += 2\nx += 3\n",
    "x = 1\n[a]\n",
    "[a\nx = 1\n",
    "[a](x\ny = 1\n",
    "[a]junk after\nx = 1\n",
    "[a]\n" + "k = " + "v" * 9000 + "\nx = 1\n",
    "\ufeff[a]\nx = 1\n",
    "[a]\n\\[b] = 1\n",
]

FRAGMENTS = [
    *"xkv1= \t;-[]()#\\>+",
    "=>", "+=", "\\;", ";--", "--;", ";---", "\r", "\x0b", "\x0c", "\u0085", "\u2028", "é",
    "[a]", "[b](!)", "#bogus", "#exec /bin/true", "\n", "\n", "\n",
]  # fmt: skip


def _strip(text: str) -> str:
    return text.strip("".join(map(chr, range(33))))


def predicted(text: str) -> Reading:
    """What confparse says Asterisk reads (None: Asterisk refuses the file)."""
    out: list[tuple[str, bool, list[tuple[str, str]]]] = []
    for item in parse(text):
        if isinstance(item, Flaw) and item.fatal:
            return None
        if isinstance(item, Directive) and item.name == "include":
            return None  # the files named do not exist: Asterisk refuses the file
        if isinstance(item, Header):
            out.append((item.name, "!" in (item.options or ()), []))
        elif isinstance(item, Setting):
            lines = out[-1][2]
            value = _strip(item.value)
            if item.append:
                index = max((i for i, (k, _) in enumerate(lines) if k == item.name), default=None)
                if index is not None:
                    lines[index] = (item.name, _strip(lines[index][1] + item.value))
                    continue
            lines.append((item.name, value))
    return [(name, [f"{k}={v}" for k, v in lines]) for name, template, lines in out if not template]


def _get_config(user: str, secret: str, name: str) -> bytes:
    """One GetConfig over a plain socket: the reply's bytes exactly as Asterisk sent them."""
    with socket.create_connection(("127.0.0.1", 5038), timeout=10) as sock:
        sock.sendall(
            f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: off\r\n\r\n"
            f"Action: GetConfig\r\nFilename: {name}\r\nActionID: oracle\r\n\r\n".encode()
        )
        data = b""
        while b"ActionID: oracle" not in data or not data.endswith(b"\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data[data.index(b"Response: ", data.index(b"ActionID: oracle") - 40) :]


def asterisk_reads(pbx: MinimalPbx, name: str, text: str) -> Reading:
    write_config(pbx.run, {name: text})
    data = netns.call_in(pbx.lab.pod, _get_config, pbx.ami_user, pbx.ami_secret, name)
    reply = data.decode("utf-8", "surrogateescape")
    if not reply.startswith("Response: Success"):
        assert "Config file has invalid format" in reply, reply
        return None
    categories: dict[int, tuple[str, list[tuple[int, str]]]] = {}
    for line in reply.split("\r\n"):
        key, _, value = line.partition(": ")
        if m := re.fullmatch(r"Category-(\d+)", key):
            categories[int(m.group(1))] = (value, [])
        elif m := re.fullmatch(r"Line-(\d+)-(\d+)", key):
            categories[int(m.group(1))][1].append((int(m.group(2)), value))
    return [
        (name, [v for _, v in sorted(lines)])
        for name, lines in (categories[i] for i in sorted(categories))
    ]


def test_confparse_agrees_with_asterisk(minimal_pbx: MinimalPbx) -> None:
    """Fixed tricky texts and 300 generated ones read the same in confparse and Asterisk."""
    pbx = minimal_pbx
    manager = (
        "[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = 5038\n\n"
        f"[{pbx.ami_user}]\nsecret = {pbx.ami_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
        "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\n"
    )
    write_config(pbx.run, {"manager.conf": manager})
    pbx.start()
    rng = random.Random(1212)
    texts = list(FIXED)
    for _ in range(300):
        body = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
        texts.append("[s]\n" + body + "\n")
    disagreements = []
    for number, text in enumerate(texts):
        ours = predicted(text)
        theirs = asterisk_reads(pbx, f"oracle{number}.conf", text)
        if ours != theirs:
            disagreements.append((text, ours, theirs))
    assert disagreements == [], (
        f"{len(disagreements)} texts read differently, e.g. {disagreements[0]}"
    )
