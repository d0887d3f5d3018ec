"""Whether each provider reached over TLS presents a certificate Asterisk will trust.

Asterisk verifies a provider's certificate per transport (`verify_server`, the transport's CA
bundle or the system store) and, when it fails, only logs "The certificate is untrusted" and
marks the registration Rejected ("No response received"), which reads like a network problem.
So the supervisor makes the same check itself from the pod, with the same trust (the trunk's
`tls.ca_secret`, else the system store Asterisk is given) and the same name check (the trunk's
host), and says in /status and the log exactly why a provider's certificate is refused.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from supervisor.status import Check
from supervisor.tls.certs import SYSTEM_CA_PATH
from supervisor.tls.served import AppliedSite, run_checks

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Provider:
    """A trunk whose provider's certificate Asterisk verifies: where, and what it trusts
    (`ca_pem`: the trunk's CA bundle; None: the system store)."""

    trunk: str
    host: str
    port: int
    ca_pem: str | None = None
    ca_path: str = SYSTEM_CA_PATH


def providers_of(loaded: Any) -> dict[str, Provider]:
    """The verifying trunks on tls transports of a loaded site."""
    site = loaded.site
    out: dict[str, Provider] = {}
    for name, trunk in site.trunks.items():
        if trunk.tls is None or not trunk.tls.verify:
            continue
        ca = loaded.secrets[trunk.tls.ca_secret] if trunk.tls.ca_secret is not None else None
        out[name] = Provider(name, trunk.hosts[0], site.trunk_port(name), ca)
    return out


def context_for(provider: Provider) -> ssl.SSLContext:
    """A client context trusting what Asterisk trusts for this trunk, checking the host name
    (or IP address) the trunk names, as pjsip does with verify_server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if provider.ca_pem is not None:
        context.load_verify_locations(cadata=provider.ca_pem)
    else:
        context.load_verify_locations(capath=provider.ca_path)
    return context


async def verify_provider(provider: Provider, timeout: float = HANDSHAKE_TIMEOUT) -> str | None:
    """None if the provider's certificate verifies; else why not, in one line."""
    trust = "its CA from the Secret" if provider.ca_pem is not None else "the system CA store"
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                provider.host,
                provider.port,
                ssl=context_for(provider),
                server_hostname=provider.host,
            )
            writer.transport.abort()
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message
        return f"the provider's certificate is not trusted: {reason} (checked against {trust})"
    except ssl.SSLError as exc:
        return f"TLS handshake with the provider failed: {exc.reason or exc}"
    except TimeoutError:
        return f"no TLS answer from [{provider.host}]:{provider.port} within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to [{provider.host}]:{provider.port}: {exc.strerror or exc}"
    return None


@dataclass(frozen=True)
class Result:
    provider: Provider
    problem: str | None
    checked_at: float


class ProviderCertificates:
    """Checks the providers' certificates after each apply and every `interval` (a named task)."""

    def __init__(
        self,
        *,
        verify: Callable[[Provider], Awaitable[str | None]] = verify_provider,
        interval: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verify = verify
        self._interval = interval
        self._clock = clock
        self._wake = asyncio.Event()
        self._providers: dict[str, Provider] = {}
        self._results: dict[str, Result] = {}

    def on_config(self, config: AppliedSite) -> None:
        """A config went live: check its providers' certificates."""
        self.expect(config.loaded)

    def expect(self, loaded: Any) -> None:
        self.watch(providers_of(loaded))

    def watch(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)
        self._results = {
            n: r for n, r in self._results.items() if self._providers.get(n) == r.provider
        }
        self._wake.set()

    @property
    def results(self) -> Mapping[str, Result]:
        return dict(self._results)

    async def verify(self) -> dict[str, str | None]:
        providers = list(self._providers.values())
        problems = await asyncio.gather(*(self._verify(p) for p in providers))
        now = self._clock()
        for provider, problem in zip(providers, problems, strict=True):
            if self._providers.get(provider.trunk) != provider:
                continue  # the site changed meanwhile
            previous = self._results.get(provider.trunk)
            if problem is not None and (previous is None or previous.problem != problem):
                log.error("trunk %s: %s", provider.trunk, problem)
            elif problem is None and previous is not None and previous.problem is not None:
                log.info("trunk %s: the provider's certificate verifies again", provider.trunk)
            self._results[provider.trunk] = Result(provider, problem, now)
        return {name: r.problem for name, r in self._results.items()}

    async def run(self, ready: asyncio.Event | None = None) -> NoReturn:
        await run_checks(self._wake, self._interval, ready, self._verify_if_any)

    async def _verify_if_any(self) -> None:
        if self._providers:
            await self.verify()

    def checks(self) -> list[Check]:
        """One /status line per verifying tls trunk (shown; the registration check gates)."""
        out = []
        for name in sorted(self._providers):
            result = self._results.get(name)
            if result is None:
                detail, ok = "not checked yet", True
            elif result.problem is None:
                detail, ok = "the provider's certificate verifies", True
            else:
                detail, ok = result.problem, False
            out.append(Check(name=f"trunk tls {name}", ok=ok, detail=detail, gates_readiness=False))
        return out
