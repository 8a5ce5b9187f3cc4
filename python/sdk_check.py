"""Drive examples/server.mjs with the official Python MCP SDK (pip package `mcp`).

    python python/sdk_check.py check  URL   initialize, tools, progress, logging, a notification
                                            from another session; prints {"sessionId": ...}
    python python/sdk_check.py resume URL SESSION_ID
                                            reconnect to that session without initialize (e.g. after
                                            the server restarted): same session, its metadata, progress
                                            and logging again

Each check prints one line ("ok ..." or "FAIL ..."); the exit code is the number of failures.
The last line is a JSON object with the session id and the failures. Used by
__test__/python-sdk.test.js, single instance and through the fleet's round-robin proxy.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

CLIENT_NAME = "python-sdk-check"
WAIT_S = 20  # how long to keep retrying something that depends on a stream being open

failures: list[str] = []


def check(name: str, ok: bool, detail: Any = "") -> bool:
    if ok:
        print(f"ok   {name}", flush=True)
    else:
        print(f"FAIL {name}: {detail}", flush=True)
        failures.append(name)
    return ok


class Client:
    """One MCP session: its notifications, progress reports and tool calls."""

    def __init__(self, url: str, session_id: str | None = None) -> None:
        self.url = url
        self.session_id = session_id
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.errors: list[Exception] = []

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            self.errors.append(message)

    def connect(self):
        headers = {"mcp-session-id": self.session_id} if self.session_id else None
        return streamable_http_client(self.url, http_client=create_mcp_http_client(headers=headers), terminate_on_close=False)

    def session(self, read, write) -> ClientSession:
        return ClientSession(
            read,
            write,
            logging_callback=self.on_log,
            message_handler=self.on_message,
            client_info=types.Implementation(name=CLIENT_NAME, version="1.0.0"),
        )


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def stored(info: dict[str, Any]) -> bool:
    # MCPServer keeps clientInfo/capabilities only on the instance that received
    # notifications/initialized (mcp-use 1.34.6), so through a round-robin proxy the stored
    # metadata may hold no more than lastAccessedAt; __test__/example.test.js checks clientInfo
    # on a single instance.
    metadata = info.get("metadata") or {}
    return isinstance(metadata.get("lastAccessedAt"), (int, float))


async def session_info(session: ClientSession) -> dict[str, Any]:
    return json.loads(text_of(await session.call_tool("session-info", {})))


async def work_with_progress(session: ClientSession, client: Client, label: str) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    before = len(client.logs)
    result = await session.call_tool("work", {"steps": 3, "delayMs": 20}, progress_callback=on_progress)
    check(f"{label}: work returns its result", not result.is_error and text_of(result).startswith("done: 3 steps"), text_of(result))
    check(f"{label}: notifications/progress 1..3 of 3", [(p, t) for p, t, _ in progress] == [(1, 3), (2, 3), (3, 3)], progress)
    logs = [l for l in client.logs[before:] if l.logger == "work"]
    check(f"{label}: notifications/message (logging) for each step", len(logs) == 3 and all(l.level == "info" for l in logs), logs)


async def wait_for(pred, what: str) -> bool:
    with anyio.move_on_after(WAIT_S):
        while True:
            if await pred():
                return True
            await anyio.sleep(0.1)
    return check(what, False, f"not seen within {WAIT_S} s")


async def run_check(url: str) -> str | None:
    a, b = Client(url), Client(url)
    async with a.connect() as (ra, wa), a.session(ra, wa) as sa:
        init = await sa.initialize()
        check("initialize", init.server_info.name == "mcp-sessions-native-example", init.server_info)
        tools = sorted(t.name for t in (await sa.list_tools()).tools)
        check("tools/list", tools == ["echo", "notify", "session-info", "work"], tools)
        echo = await sa.call_tool("echo", {"message": "hi ✓"})
        check("tools/call echo", text_of(echo) == "hi ✓", text_of(echo))
        info = await session_info(sa)
        sid = info["sessionId"]
        check("session-info: the session store holds the session", stored(info), info)
        await work_with_progress(sa, a, "A")

        # Another session B opens its GET stream; A notifies B through the stream manager.
        async with b.connect() as (rb, wb), b.session(rb, wb) as sb:
            await sb.initialize()
            sid_b = (await session_info(sb))["sessionId"]
            check("second session has its own id", sid_b != sid, sid_b)

            async def delivered() -> bool:
                await sa.call_tool("notify", {"sessionId": sid_b, "message": "hello B"})
                return any(l.logger == "notify" and l.data.get("from") == sid and l.data.get("message") == "hello B" for l in b.logs)

            if await wait_for(delivered, "notify: B receives A's notifications/message on its GET stream"):
                check("notify: B receives A's notifications/message on its GET stream", True)
        return sid


async def run_resume(url: str, sid: str) -> None:
    c = Client(url, sid)
    async with c.connect() as (r, w), c.session(r, w) as s:
        # No initialize: the server finds the session in its store.
        info = None
        for attempt in range(3):  # a real client retries a request that met a stale connection
            try:
                info = await session_info(s)
                break
            except Exception as e:  # noqa: BLE001
                if attempt == 2:
                    check("resume: session-info", False, repr(e))
                    return
                await anyio.sleep(0.5)
        check("resume: same session id, no initialize", info["sessionId"] == sid, info)
        check("resume: the session store still holds the session", stored(info), info)
        await work_with_progress(s, c, "resume")


def main() -> int:
    mode, url = sys.argv[1], sys.argv[2]
    sid = None
    if mode == "check":
        sid = anyio.run(run_check, url)
    elif mode == "resume":
        sid = sys.argv[3]
        anyio.run(run_resume, url, sid)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"sessionId": sid, "failures": failures}), flush=True)
    return len(failures)


if __name__ == "__main__":
    sys.exit(main())
