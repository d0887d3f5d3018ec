"""`kubectl port-forward` for the lab: a TCP listener on the host's loopback whose connections are
opened from inside a lab namespace (the pod's loopback), so a browser or curl on the host reaches
the supervisor's HTTP server as a Kubernetes user would reach a pod's port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from lab.netns import entered


class PortForward:
    def __init__(self, ns: str, target_port: int, *, host_port: int = 8080) -> None:
        self.ns, self.target_port, self.wanted = ns, target_port, host_port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="port-forward", daemon=True
        )

    def start(self) -> PortForward:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)
        return self

    async def _listen(self) -> None:
        for port in (self.wanted, 0):  # the usual port if it is free, else any
            try:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
                break
            except OSError:
                continue
        assert self._server is not None
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The socket is created inside the namespace (setns on this thread, no await between),
        # then used from here like any other.
        with entered(self.ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, ("127.0.0.1", self.target_port))
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
