"""A small synchronous client of the service, for the command line and the demo's parties.

It logs in by signing the server's challenge, registers the caller's key in the record when it
is not there yet, and signs statements (hotline messages, acknowledgements) before sending
them. Problem documents from the service become DetenteErrors with the service's own detail.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from detente.errors import ConflictingWriteError, InputError, VerificationError
from detente.ledger import Entry, LogClient, TreeHead, key_statement, sign_statement
from detente.ledger.keys import Ed25519PrivateKey, b64decode_strict, load_private_key
from detente.service.keys import login_message

__all__ = ["ServiceClient", "Witness"]


class _Refused(Exception):
    """A refusal during login, held so that the login can say it in its own words."""

    def __init__(self, error: Exception, detail: str) -> None:
        self.error, self.detail = error, detail


class ServiceClient:
    """One logged-in party or official. Use as a context manager.

    A refusal raises a DetenteError in words (the service's reason and what was refused), with
    the HTTP status as its ``status`` attribute for programs that need it.
    """

    def __init__(self, url: str, party: str, key: Ed25519PrivateKey | str | Path,
                 official: str | None = None, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.party, self.official = party, official
        self.clock = clock  # the time statements are signed with
        self.key = key if isinstance(key, Ed25519PrivateKey) else load_private_key(key)
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.url = url
        try:
            self._login()
        except BaseException:
            self.http.close()
            raise

    def _login(self) -> None:
        try:
            ch = self._call("POST", "/v1/auth/challenge", "the login",
                            json={"party": self.party, "official": self.official})["challenge"]
            sig = self.key.sign(login_message(base64.b64decode(ch)))
            self.token = self._call("POST", "/v1/auth/token", "the login", json={
                "challenge": ch, "signature": base64.b64encode(sig).decode()})["token"]
        except _Refused as exc:
            raise type(exc.error)(
                f"cannot log in to {self.url} as {self.author}: {exc.detail}; check --party"
                + (", --official" if self.official else "") + " and --key") from None
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    @property
    def author(self) -> str:
        return self.party if self.official is None else f"{self.party}/{self.official}"

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _call(self, method: str, path: str, what: str, **kw: Any) -> Any:
        """One request; a refusal becomes a DetenteError saying what was refused and why, in
        the service's own words (never a method, a path or a status code)."""
        try:
            r = self.http.request(method, path, **kw)
            if r.status_code == 401 and not path.startswith("/v1/auth/"):
                # Tokens last minutes; a client (a party's feed, a witness) runs for hours.
                self._login()
                r = self.http.request(method, path, **kw)
        except httpx.TimeoutException:
            raise InputError(f"the service at {self.url} did not answer within "
                             f"{self.http.timeout.read:g} s; try again, or check --url") from None
        except httpx.HTTPError as exc:
            reason = str(exc).split("] ")[-1].lower() or type(exc).__name__
            raise InputError(f"cannot reach the service at {self.url} ({reason}): is it "
                             "running? Start one with detente serve or detente demo, or give "
                             "its address with --url") from None
        if r.status_code >= 400:
            # Nothing at the login's own address, or no JSON at all: another server, or a
            # wrong path in --url.
            if r.status_code in (404, 405) and (path.startswith("/v1/auth/") or "json" not in
                                                 r.headers.get("content-type", "")):
                raise InputError(f"{self.url} does not answer as a detente service: check "
                                 "--url")
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            kind = {401: VerificationError, 403: VerificationError,
                    409: ConflictingWriteError}.get(r.status_code, InputError)
            error = kind(f"the service refused {what}: {detail}")
            error.status = r.status_code  # type: ignore[attr-defined]  # for programs, not words
            refused = _Refused(error, str(detail))
            if path.startswith("/v1/auth/"):
                raise refused
            raise refused.error from None
        return r.json() if r.content else None

    def get(self, path: str, what: str = "the request", **kw: Any) -> Any:
        return self._call("GET", path, what, **kw)

    def post(self, path: str, body: Any, what: str = "the request") -> Any:
        return self._call("POST", path, what, json=body)

    def ensure_registered(self) -> None:
        """Register this caller's key in the record unless it is its current key there."""
        current = self.get(f"/v1/record/keys/{self.author}")["key"]
        mine = base64.b64encode(self.key.public_key().public_bytes_raw()).decode()
        if current is not None and current["public_key"] == mine:
            return
        st = key_statement(self.key, self.key, author=self.author, time=self.clock())
        self.post("/v1/record/statements", {"statements": [st.to_json()]},
                  f"the registration of {self.author}'s key")

    def sign(self, kind: str, body: dict[str, Any], ref: int | None = None) -> dict[str, Any]:
        return sign_statement(self.key, kind=kind, author=self.author, time=self.clock(),
                              body=body, ref=ref).to_json()

    def send_message(self, to_party: str, priority: str, text: str,
                     to_official: str | None = None, alert_id: str | None = None,
                     message_id: str | None = None) -> dict[str, Any]:
        self.ensure_registered()
        # The id is chosen here and signed: it names the message in the record, and sending
        # again with it after a lost reply cannot make a second message.
        body: dict[str, Any] = {"id": message_id or uuid.uuid4().hex, "to_party": to_party,
                                "priority": priority, "body": text}
        for k, v in (("to_official", to_official), ("alert_id", alert_id)):
            if v is not None:
                body[k] = v
        return self.post("/v1/hotline/messages", self.sign("hotline.message", body),
                         "the message")

    def messages(self) -> list[dict[str, Any]]:
        return self.get("/v1/hotline/messages")["messages"]

    def acknowledge(self, message_id: str, reply: str | None = None) -> dict[str, Any]:
        self.ensure_registered()
        found = [m for m in self.messages() if m["id"] == message_id]
        if not found:
            raise InputError(f"{self.party} has no hotline message {message_id!r} of the last "
                             f"hour: check the id (detente hotline list)")
        body: dict[str, Any] = {"message_id": message_id}
        if reply is not None:
            body["reply"] = reply
        return self.post(f"/v1/hotline/messages/{message_id}/ack",
                         self.sign("hotline.ack", body, ref=found[0]["record_index"]),
                         "the acknowledgement")

    def post_states(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        return self.post("/v1/states", {"states": states}, "the states")


class Witness:
    """A party's watch over the log: check every new tree head for consistency with the last
    one it accepted, co-sign it, and keep every head it accepted (for ``detente verify
    --heads``). A head that contradicts an accepted one raises SplitViewError, carrying both
    signed heads as evidence: proof that the log showed two histories.

    ``log_key`` (raw 32 bytes) should come from the agreement; without it the first head's key
    is trusted on first use and printed for comparison.
    """

    def __init__(self, client: ServiceClient, log_key: bytes | None = None,
                 kept: list[TreeHead] | None = None, told_seq: int = 0) -> None:
        self.client = client
        self.log_key = log_key
        self.kept: list[TreeHead] = list(kept or [])
        self._log: LogClient | None = None
        # The last of the party's events whose entries it has receipted (``receipt_told``).
        self.told_seq = told_seq

    def step(self) -> TreeHead | None:
        """Look at the latest head once; return it if it was newly accepted and co-signed."""
        if self._log is None:
            # Registered first: a cosigning key must be in the tree whose head it signs.
            self.client.ensure_registered()
        view = self.client.get("/v1/record/head")
        head = TreeHead.from_json(view["head"])
        if self._log is None:
            key = self.log_key or b64decode_strict(view["log_key"], "log_key")
            self._log = LogClient(self.client.party, self.client.key, key, head.origin,
                                  last_head=self.kept[-1] if self.kept else None,
                                  clock=self.client.clock)
        last = self._log.last_head
        if last is not None and head.size <= last.size and head.root == last.root:
            return None
        proof: list[bytes] = []
        if last is not None and 0 < min(last.size, head.size) != max(last.size, head.size):
            lo, hi = sorted((last.size, head.size))
            got = self.client.get("/v1/record/consistency",
                                  params={"first": lo, "second": hi})
            proof = [b64decode_strict(p, "proof") for p in got["proof"]]
        cosignature = self._log.observe(head, proof)  # SplitViewError: do not co-sign
        self.client.post("/v1/record/cosignatures", cosignature.to_json(), "the cosignature")
        self.kept.append(head)
        return head

    def receipt_told(self) -> int:
        """Answer every entry the party was told since the last call (its ``entry`` events:
        an alert, an intent overlap, a hotline message addressed to it) with a signed
        ``delivery.receipt``: "we were told this", in the record under the party's own key.
        Each entry is checked first: addressed to this party, its leaf hash computed from
        the entry as received (salt included). Returns how many were receipted."""
        if self._log is None:
            self.step()
        assert self._log is not None
        count = 0
        while True:
            got = self.client.get("/v1/events", params={"since": self.told_seq, "limit": 500})
            if not got["events"]:
                return count
            statements = []
            for ev in got["events"]:
                if ev["type"] == "entry":
                    index = int(ev["data"]["index"])
                    entry = Entry.from_json(ev["data"]["entry"], f"entry {index}")
                    statements.append(self._log.delivery_receipt(index, entry).to_json())
            if statements:
                self.client.post("/v1/record/statements", {"statements": statements},
                                 f"{len(statements)} delivery receipts")
                count += len(statements)
            self.told_seq = int(got["events"][-1]["seq"])
