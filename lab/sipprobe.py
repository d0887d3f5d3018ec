"""A one-shot SIP request over UDP from a lab namespace, for looking at the PBX's answer on the
wire: REGISTER (optionally answering a digest challenge) or OPTIONS, with the raw response.

sipp drives the traffic in tests; this reads single answers precisely (status, headers, and
"no answer" within a deadline), which sipp reports only as pass/fail."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass, field

from lab import netns

EXPIRES = "Expires: 60\r\n"


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    elapsed_s: float
    raw: str = field(repr=False)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def _parse(data: bytes, elapsed: float) -> Response:
    text = data.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    _, status, reason = [*head[0].split(" ", 2), ""][:3]
    headers = tuple(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:])
    )
    return Response(int(status), reason, headers, elapsed, text)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class Probe:
    """A UDP SIP client bound to `source` inside namespace `ns` (use via `run_in`)."""

    def __init__(self, source: str, target: str, port: int = 5060) -> None:
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.source, self.target, self.port = source, target, port
        self.local_port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        method: str,
        user: str,
        *,
        cseq: int,
        call_id: str,
        extra: str = "",
        timeout: float = 1.0,
    ) -> Response | None:
        """Send one request and wait for its first final (>= 200) response; None: no answer."""
        uri = f"sip:{_host(self.target)}:{self.port}"
        branch = "z9hG4bK" + os.urandom(6).hex()
        message = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {_host(self.source)}:{self.local_port};branch={branch};rport\r\n"
            f"From: <sip:{user}@{_host(self.target)}>;tag={call_id[:8]}\r\n"
            f"To: <sip:{user}@{_host(self.target)}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{user}@{_host(self.source)}:{self.local_port}>\r\n"
            f"Max-Forwards: 70\r\n"
            f"{EXPIRES if method == 'REGISTER' else ''}"
            f"{extra}"
            "Content-Length: 0\r\n\r\n"
        )
        start = time.monotonic()
        self.sock.sendto(message.encode(), (self.target, self.port))
        deadline = start + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return None
            if not data.startswith(b"SIP/2.0 "):
                continue  # a request to us (e.g. the PBX qualifying a contact just registered)
            response = _parse(data, time.monotonic() - start)
            if response.status >= 200 and f"branch={branch}" in response.raw:
                return response
        return None

    def register(self, user: str, password: str, timeout: float = 1.0) -> list[Response | None]:
        """REGISTER, then (if challenged) REGISTER with a digest of `password`: both answers."""
        call_id = os.urandom(8).hex()
        first = self.request("REGISTER", user, cseq=1, call_id=call_id, timeout=timeout)
        if first is None or first.status != 401:
            return [first]
        challenge = first.header("WWW-Authenticate") or ""
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
        realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
        uri = f"sip:{_host(self.target)}:{self.port}"
        ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
        auth = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        extra = ""
        if "qop" in fields:
            cnonce, nc = os.urandom(4).hex(), "00000001"
            digest = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
            auth += f'qop=auth, nc={nc}, cnonce="{cnonce}", '
        else:
            digest = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
        if "opaque" in fields:
            auth += f'opaque="{fields["opaque"]}", '
        extra = f'Authorization: {auth}response="{digest}", algorithm=MD5\r\n'
        second = self.request(
            "REGISTER", user, cseq=2, call_id=call_id, extra=extra, timeout=timeout
        )
        return [first, second]


def register_in(
    lab: netns.Lab,
    host: str,
    source: str,
    target: str,
    user: str,
    password: str,
    timeout: float = 1.0,
) -> list[Response | None]:
    """`Probe.register` from `source` in the lab namespace `host`."""

    def go() -> list[Response | None]:
        probe = Probe(source, target)
        try:
            return probe.register(user, password, timeout)
        finally:
            probe.close()

    return netns.call_in(lab.ns(host), go)


def request_in(
    lab: netns.Lab,
    host: str,
    source: str,
    target: str,
    method: str = "OPTIONS",
    user: str = "probe",
    timeout: float = 1.0,
) -> Response | None:
    """One out-of-dialog request (no body) from `source` in `host`; its final answer or None."""

    def go() -> Response | None:
        probe = Probe(source, target)
        try:
            return probe.request(method, user, cseq=1, call_id=os.urandom(8).hex(), timeout=timeout)
        finally:
            probe.close()

    return netns.call_in(lab.ns(host), go)


def options_in(
    lab: netns.Lab, host: str, source: str, target: str, timeout: float = 1.0
) -> Response | None:
    """One OPTIONS from `source` in `host`; its final answer or None."""
    return request_in(lab, host, source, target, "OPTIONS", "probe", timeout)
