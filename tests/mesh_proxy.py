"""A WebSocket proxy between two nodes for tests: it records every message of a link (the
wire), and on demand cuts the link, refuses to carry it, or drops, delays or reorders frames.

Runs its own event loop in a thread; ``url`` is what the dialing node is configured with in
place of its peer's URL (``MeshRig.via``). ``records`` holds (time, direction, message):
direction "out" from the dialer to the listener, "back" the other way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.live_server import free_port

__all__ = ["Proxy"]

# What to do with a message: None to carry it as it is, else ("drop",), ("delay", seconds) or
# ("hold",): keep it back until the next message in that direction has gone (a swap).
Rule = Callable[[str, str | bytes], tuple[Any, ...] | None]


class Proxy:
    def __init__(self, target: str) -> None:
        self.target = target.replace("http", "ws", 1)
        self.port = free_port()
        self.records: list[tuple[float, str, str | bytes]] = []
        self.carrying = True
        self.rule: Rule | None = None
        self._conns: set[ServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", self.port, max_size=None,
                         compression=None, ping_interval=None):
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, ws: ServerConnection) -> None:
        if not self.carrying:
            await ws.close(1013, "proxy: not carrying")
            return
        self._conns.add(ws)
        try:
            async with connect(self.target + ws.request.path, max_size=None, compression=None,
                               ping_interval=None) as up:
                a = asyncio.create_task(self._pipe(ws, up, "out"))
                b = asyncio.create_task(self._pipe(up, ws, "back"))
                await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
                for task in (a, b):
                    task.cancel()
                await up.close()
        except (OSError, ConnectionClosed):
            pass
        finally:
            self._conns.discard(ws)
            await ws.close()

    async def _pipe(self, src: Any, dst: Any, direction: str) -> None:
        held: list[str | bytes] = []
        with contextlib.suppress(ConnectionClosed):
            async for message in src:
                self.records.append((time.time(), direction, message))
                action = self.rule(direction, message) if self.rule is not None else None
                if action is None:
                    await dst.send(message)
                    for m in held:
                        await dst.send(m)
                    held.clear()
                elif action[0] == "drop":
                    continue
                elif action[0] == "delay":
                    await asyncio.sleep(action[1])
                    await dst.send(message)
                elif action[0] == "hold":
                    held.append(message)

    def cut(self) -> None:
        """Close every connection the proxy carries (both ends see the link drop)."""
        async def close_all() -> None:
            for ws in list(self._conns):
                await ws.close(1001, "proxy: cut")
        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(10)

    def stop(self) -> None:
        self.carrying = False
        with contextlib.suppress(Exception):
            self.cut()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def frames(self) -> list[tuple[float, str, bytes]]:
        """The binary messages (frames) recorded, in order: (time, direction, bytes)."""
        return [(t, d, m) for t, d, m in list(self.records) if isinstance(m, bytes)]
