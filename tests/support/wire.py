"""A TCP relay on 127.0.0.1 that records what passes each way and when: tests read the order in
which a client's commands and a server's replies really crossed the wire."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from .smtp_server import free_port


@dataclass
class Chunk:
    at: float
    connection: int
    from_client: bool
    data: bytes


@dataclass
class Wire:
    """`port` relays to `target`; `chunks` holds what each read of either side got, in order."""
    target: int
    port: int = field(default_factory=free_port)
    chunks: list[Chunk] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _pipe(self, reader, writer, connection: int, from_client: bool) -> None:
        try:
            while data := await reader.read(1 << 20):
                with self.lock:
                    self.chunks.append(Chunk(time.monotonic(), connection, from_client, data))
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _serve(self, started: threading.Event, stopping: asyncio.Event) -> None:
        count = 0

        async def relay(client_reader, client_writer) -> None:
            nonlocal count
            count += 1
            connection = count
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target)
            await asyncio.gather(self._pipe(client_reader, server_writer, connection, True),
                                 self._pipe(server_reader, client_writer, connection, False))

        server = await asyncio.start_server(relay, "127.0.0.1", self.port)
        self._loop, self._stopping = asyncio.get_running_loop(), stopping
        started.set()
        async with server:
            await stopping.wait()

    def __enter__(self) -> Wire:
        started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(started, asyncio.Event()),),
                                        daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"the relay on 127.0.0.1:{self.port} did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
