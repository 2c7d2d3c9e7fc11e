"""The FastAPI application: resources are created in the lifespan and handed down.

Every endpoint but /health, the two of the login and the OpenAPI document needs a bearer token
from /v1/auth/token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

import shapely.geometry
from fastapi import FastAPI, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from detente import __version__
from detente.api import (
    dss,
    routes_console,
    routes_feeds,
    routes_hotline,
    routes_intents,
    routes_mesh,
    routes_record,
)
from detente.api.deps import Me, Mech, MeOrOperator
from detente.api.forwarding import LeaderForwarding
from detente.api.json_body import StrictJsonRoute
from detente.api.limits import BodySizeLimit
from detente.api.openapi import allowed_methods, complete, problems
from detente.api.problems import ForbiddenError, install_problem_handlers, logged, problem_of
from detente.api.schemas import (
    MAX_INT,
    ChallengeRequest,
    ChallengeResponse,
    IngestResponse,
    TokenRequest,
    TokenResponse,
)
from detente.api.socket_sessions import (
    CLOSE_EXPIRED,
    CLOSE_FORBIDDEN,
    SocketSession,
    renewal_token,
)
from detente.api.states_body import decode_states, states_body_schema
from detente.engines import tactical
from detente.errors import AuthenticationError, InputError, NotFoundError
from detente.ledger import Ledger, origin_for
from detente.ledger.keys import generate_private_key, load_private_key, write_private_key
from detente.model.reports import ReportBatch
from detente.service.auth import Authenticator, Principal
from detente.service.clock import Clock, SystemClock
from detente.service.config import Config
from detente.service.leadership import Node, NodeSettings, app_name, instance_name, node_secret
from detente.service.mechanism import Mechanism, Subscriber
from detente.service.mesh.deployment import log_name, mechanism_for, served
from detente.service.mesh.node_config import NodeConfig
from detente.service.record import Record
from detente.store import ledger_tables as _ledger_tables  # noqa: F401 - registers the tables
from detente.store import mesh as _mesh_tables  # noqa: F401 - registers the tables
from detente.store.database import database_url as store_url
from detente.store.database import open_database, startup_lock

__all__ = ["create_app"]

AlertId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="an alert's id")]


def create_app(config: Config, database_url: str, clock: Clock | None = None,
               run_cycle: bool = True, advertise: str = "http://127.0.0.1:8000",
               mesh: NodeConfig | None = None) -> FastAPI:
    """The service as an ASGI app: a hub, or with ``mesh`` one party's node of a mesh
    (``service.mesh``). ``run_cycle=False`` leaves cycles to the caller (tests).

    On PostgreSQL the service is one instance of a node (``service.leadership``): it leads
    once it holds the node's lease, and until then follows, passing the leader's requests to
    it; ``advertise`` is where the other instances reach this one's API. (A mesh node runs as
    one instance: its links are not handed over.)"""
    clock = clock or SystemClock()
    postgresql = store_url(database_url).get_backend_name() == "postgresql"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The tactical engine's compiled path compiles (or loads from cache) here, not in
        # the middle of the first busy detection cycle.
        await asyncio.to_thread(tactical.warm_up)
        instance = instance_name()
        engine = open_database(database_url, application_name=app_name(instance))
        key_file = config.settings.log_key_file
        if not key_file.exists():
            write_private_key(key_file, generate_private_key())
        log_key = load_private_key(key_file)
        raw_key = log_key.private_bytes_raw()
        # Instances of a node starting together: one at a time creates the log and registers
        # the service's key in it.
        with startup_lock(engine):
            ledger = Ledger(engine, log_key, origin=origin_for(log_name(config, mesh)),
                            clock=clock.now)
            record = Record(ledger, log_key, config, clock)
        mechanism = mechanism_for(config, engine, clock, record, mesh)
        app.state.mechanism = mechanism
        # Tokens every instance of the node takes (they share the log key); the operator logs
        # in with the log's key (party "detente"): it reads the full record and the service's
        # own figures, and speaks for no party. A mesh node lets in its own party alone.
        app.state.auth = Authenticator(served(config, mesh),
                                       secret=node_secret(raw_key, b"bearer tokens"),
                                       operator_key=log_key.public_key().public_bytes_raw())
        app.state.node_secret = node_secret(raw_key, b"instances").hex()
        node = None
        if postgresql and run_cycle and mesh is None:
            node = Node(mechanism, engine, NodeSettings(
                node=f"detente/{config.region_name}", instance=instance, address=advertise))
        if node is not None:
            node.secret = app.state.node_secret
        app.state.node = node
        app.state.sbs1 = {}  # per party: SBS-1 positions wait for their velocity messages
        # What start-up built (compiled kernels, libraries, the restored picture) lives as long
        # as the service: frozen out of the collector's sight. A full collection scanned it
        # all, 135-211 ms with every thread stopped, nine times a minute at 10,000 tracks.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        task = None
        if run_cycle:
            task = asyncio.create_task(node.run(stop) if node is not None
                                       else mechanism.run(stop))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            mechanism.close()
            engine.dispose()

    app = FastAPI(
        title="detente",
        version=__version__,
        description="Deconfliction between parties that share an airspace. SI units throughout.",
        lifespan=lifespan,
    )
    app.router.route_class = StrictJsonRoute
    app.add_middleware(BodySizeLimit, max_bytes=config.settings.max_body_bytes)
    app.add_middleware(LeaderForwarding)  # outermost: a follower passes the leader's on
    install_problem_handlers(
        app, allow=lambda request: allowed_methods(app.openapi(), request.url.path))
    # The states body is decoded by msgspec, not FastAPI: its schema joins the document here.
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate_openapi(), states_body_schema())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(routes_hotline.router)
    app.include_router(routes_record.router)
    app.include_router(routes_intents.router)
    app.include_router(routes_feeds.router)
    app.include_router(routes_console.router)
    app.include_router(dss.router)  # ASTM F3548-21, its own errors and tokens
    if mesh is not None:  # one party's node of a mesh: its peers' links
        app.include_router(routes_mesh.router)
    # The console: static files shipped in the package (a missing folder fails at start).
    app.mount("/console", StaticFiles(packages=[("detente.web", "static")], html=True),
              name="console")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/health", tags=["service"])
    async def health(mech: Mech) -> dict[str, Any]:
        """Whether the service answers, and nothing else: no login is needed, so it tells
        nothing of the picture (a count of tracks would tell a party how many the others
        fly). An instance of a node on PostgreSQL says whether it leads (nothing of any
        party's): what a load balancer and the other instances need."""
        if mech.node is None:
            return {"status": "ok"}
        return {"status": "ok", "role": "leader" if mech.leading else "follower"}

    @app.get("/v1/status", tags=["service"], responses=problems(401))
    async def status(me: MeOrOperator, mech: Mech) -> dict[str, Any]:
        """The service's figures as the caller may see them: a party, how many of its own
        aircraft are in the picture; the operator, the whole picture's count and the last
        detection cycle's time (s), which grows with the whole picture."""
        if not me.operator:
            return {"party": me.party, "own_tracks": mech.picture.count(me.party)}
        c = mech.last_cycle
        return {"party": None, "tracks": len(mech.picture), "cycle_s": round(c.total_s, 4)}

    @app.post("/v1/auth/challenge", tags=["auth"], responses=problems(429))
    async def challenge(body: ChallengeRequest, request: Request) -> ChallengeResponse:
        """A login challenge for a party (with its party key) or one of its officials. No
        login needed, so they are rationed: one expires after 60 s; an address holds at most
        8 (a ninth drops its oldest); a party or official holds at most 32 from all addresses
        together (then 429 with Retry-After). A party or official the service does not know
        gets a challenge too, one that cannot log in."""
        address = request.client.host if request.client else ""
        text, expires = request.app.state.auth.challenge(body.party, body.official, address)
        return ChallengeResponse(challenge=text, expires_at=expires)

    @app.post("/v1/auth/token", tags=["auth"], responses=problems(401))
    async def token(body: TokenRequest, request: Request) -> TokenResponse:
        """A bearer token for a signed challenge: sign ``b"detente login v1\\0"`` followed by
        the challenge's bytes with the key of the party or official it was asked for."""
        tok, p = request.app.state.auth.login(body.challenge, body.signature)
        return TokenResponse(token=tok, party=p.party, official=p.official,
                             expires_at=p.expires_at,
                             expires_in_s=round(p.expires_at - request.app.state.auth.wall(), 3))

    def own_batch(body: bytes, me: Principal) -> ReportBatch:
        batch, parties = decode_states(body)
        for k, p in enumerate(parties):
            if p is not None and p != me.party:
                raise ForbiddenError(
                    f"states[{k}].party: {p!r} is not your party ({me.party}); a party "
                    "reports only its own aircraft"
                )
        return batch

    @app.post("/v1/states", tags=["ingest"], responses=problems(400, 403, 503),
              openapi_extra={"requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatesBody"}}},
    }})
    async def post_states(request: Request, me: Me, mech: Mech) -> IngestResponse:
        """A batch of the caller's own aircraft states: all accepted, or none."""
        batch = own_batch(await request.body(), me)
        return IngestResponse(**await mech.ingest(me.party, batch))

    @app.get("/v1/picture", tags=["picture"])
    async def picture(me: Me, mech: Mech) -> dict[str, Any]:
        """The tracks the caller's party may see now, as it may see them."""
        now = mech.clock.now()
        tracks = mech.sharing.visible_tracks(me.party, mech.picture, now)
        return {"t": now, "tracks": tracks}

    @app.get("/v1/airspaces", tags=["picture"])
    async def airspaces(me: Me, mech: Mech) -> dict[str, Any]:
        """The protected airspaces, as a GeoJSON FeatureCollection (lon/lat; floor and ceiling
        in m, null for unbounded)."""
        features = []
        for k, a in enumerate(mech.airspaces):
            features.append({
                "type": "Feature", "id": k, "geometry": shapely.geometry.mapping(a.geometry),
                "properties": {"name": a.name, "owner": a.owner, "kind": str(a.kind),
                               "floor_m": a.floor_m if math.isfinite(a.floor_m) else None,
                               "ceiling_m": a.ceiling_m if math.isfinite(a.ceiling_m) else None,
                               "buffer_m": a.buffer_m},
            })
        return {"type": "FeatureCollection", "features": features}

    @app.get("/v1/alerts", tags=["alerts"])
    async def alerts(me: Me, mech: Mech) -> dict[str, Any]:
        return {"alerts": mech.open_alert_views(me.party)}

    @app.post("/v1/node/delivered", include_in_schema=False)
    async def node_delivered(request: Request, mech: Mech) -> dict[str, Any]:
        """Another instance of the node pushed a hotline message to an official's screen: the
        leader records the delivery. Only for the node's instances (they share its secret);
        to anyone else this path does not exist."""
        given = request.headers.get("x-detente-node", "")
        if not hmac.compare_digest(given.encode(), request.app.state.node_secret.encode()):
            raise NotFoundError("no such path")
        body = await request.json()
        await mech.delivered(str(body["message_id"]), str(body["official"]))
        return {"recorded": True}

    @app.post("/v1/alerts/{alert_id}/ack", tags=["alerts"], responses=problems(404, 409, 503))
    async def ack_alert(alert_id: AlertId, me: Me, mech: Mech) -> dict[str, Any]:
        """Acknowledge an open alert of the caller's party (once per party)."""
        return await mech.acknowledge_alert(me.party, me.official, alert_id)

    @app.get("/v1/events", tags=["alerts"])
    async def events(me: Me, mech: Mech, since: int = Query(0, ge=0, le=MAX_INT),
                     limit: int = Query(1000, ge=1, le=10_000)) -> dict[str, Any]:
        """The durable events of the caller's party after ``since`` (at most ``limit``,
        oldest first), as the stream gives them: for a client that polls rather than holds a
        socket (``detente witness`` reads its ``entry`` events to receipt them)."""
        return {"events": await mech.events_since(me.party, since, limit),
                "seq": mech.current_seq(me.party)}

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket, token: str = Query(...),
                     since: int | None = Query(None, ge=0)) -> None:
        """Push: the party's alerts and hotline traffic (durable, with ``seq``; resume with
        ``since``) and a picture frame every cycle (``seq`` null). The socket lasts as long as
        its token: renew it over the socket (``api.socket_sessions``), or it closes with 4401
        when the token expires."""
        me = await _socket_caller(ws, token)
        if me is None:
            return
        mech: Mechanism = ws.app.state.mechanism
        session = SocketSession(ws.app.state.auth, me)
        await ws.accept()
        sub, backlog = await mech.subscribe(me.party, me.official, since)
        # The client's own messages (renewals) and the token's expiry reach the sending loop
        # through the subscriber's queue, so that one task sends on the socket.
        reader = asyncio.create_task(_read_client(ws, session, sub))
        expiry = _expiry_timer(session, sub)
        try:
            await ws.send_json({"seq": None, "type": "hello", "data": {
                "party": me.party, "official": me.official, "seq": mech.current_seq(me.party),
                "alerts": mech.open_alert_views(me.party),
                # The service's clock, and how fast it runs (a replay or a compressed demo
                # runs faster than the wall clock): clients sign statements with it.
                "time": mech.clock.now(), "rate": getattr(mech.clock, "rate", 1.0),
                "session": session.view()}})
            for msg in backlog:
                await ws.send_json(msg)
                if msg["type"] == "hotline" and me.official is not None:
                    await mech.delivered(msg["data"]["id"], me.official)
            last = backlog[-1]["seq"] if backlog else (since or 0)
            while True:
                msg = await sub.queue.get()
                kind = msg.get("type")
                if kind == "overflow":
                    await ws.close(code=4408, reason="too slow: reconnect with since=last seq")
                    return
                if kind == _GONE:
                    return
                if kind == _CLOSE:
                    await ws.close(code=msg["code"], reason=msg["reason"])
                    return
                if kind == _EXPIRY:
                    if session.expired():
                        await ws.close(code=CLOSE_EXPIRED, reason=session.expired_reason())
                        return
                    expiry.cancel()
                    expiry = _expiry_timer(session, sub)  # renewed meanwhile
                    continue
                if msg["seq"] is not None:
                    if msg["seq"] <= last:
                        continue  # already sent from the backlog
                    last = msg["seq"]
                if "text" in msg:  # encoded once for all the party's clients
                    await ws.send_text(msg["text"])
                else:
                    await ws.send_json(msg)
                if msg["type"] == "hotline" and me.official is not None:
                    # The message reached this official's screen: that is a delivery, and the
                    # record says when.
                    await mech.delivered(msg["data"]["id"], me.official)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            expiry.cancel()
            reader.cancel()
            mech.unsubscribe(sub)

    @app.websocket("/v1/ingest")
    async def ingest_ws(ws: WebSocket, token: str = Query(...)) -> None:
        """Stream the caller's own states: send {"states": [...]} messages, each answered with
        {"accepted", "in_picture"} once durable, or a problem document (as HTTP would answer
        the same batch; the socket stays open). The socket lasts as long as its token: send
        {"type": "renew", "token": ...} to renew it (answered {"type": "renewed", ...}); a
        batch sent after it expired is refused with a 401 problem (nothing recorded) and the
        socket closes with 4401."""
        me = await _socket_caller(ws, token)
        if me is None:
            return
        mech = ws.app.state.mechanism
        session = SocketSession(ws.app.state.auth, me)
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                body = message.get("bytes") or (message.get("text") or "").encode()
                fresh = renewal_token(body)
                if fresh is not None:
                    refusal = _renew(session, fresh)
                    if refusal is not None:
                        await ws.close(code=refusal[0], reason=refusal[1])
                        return
                    await ws.send_json({"seq": None, "type": "renewed",
                                        "data": session.view()})
                    continue
                if session.expired():
                    problem = problem_of(AuthenticationError(
                        'token: expired; this batch was not recorded: log in again, renew '
                        '({"type": "renew", "token": ...}) or reconnect, and send it again'))
                    await ws.send_json(problem.body("/v1/ingest"))
                    await ws.close(code=CLOSE_EXPIRED, reason=session.expired_reason())
                    return
                try:
                    result = await mech.ingest(me.party, own_batch(body, me))
                    await ws.send_json(result)
                except Exception as exc:  # the one mapping, as for HTTP
                    problem = problem_of(exc)
                    logged(problem, exc, "/v1/ingest")
                    await ws.send_json(problem.body("/v1/ingest"))
        except WebSocketDisconnect:
            pass

    return app


# Messages the stream's sending loop gets from its own side, never sent to the client.
_EXPIRY, _CLOSE, _GONE = "_expiry", "_close", "_gone"


def _expiry_timer(session: SocketSession, sub: Subscriber) -> asyncio.TimerHandle:
    """Wake the sending loop when the session's token expires (it checks, since a renewal
    may have come meanwhile)."""
    loop = asyncio.get_running_loop()
    return loop.call_later(max(session.remaining_s(), 0.0) + 0.01,
                           sub.offer, {"seq": None, "type": _EXPIRY}, True)


def _renew(session: SocketSession, token: str) -> tuple[int, str] | None:
    """Renew the socket's session; (close code, reason) when the token is refused."""
    try:
        session.renew(token)
    except AuthenticationError:
        return CLOSE_EXPIRED, "renewal: invalid or expired token: log in again and reconnect"
    except PermissionError as exc:
        return CLOSE_FORBIDDEN, f"renewal: {exc}"[:120]
    return None


async def _socket_caller(ws: WebSocket, token: str) -> Principal | None:
    """The caller a socket's token stands for, or None once the socket is closed: 4401 for
    a token that does not hold, 4403 for one that opens no party's channel (the operator's)."""
    try:
        return ws.app.state.auth.check(token)
    except AuthenticationError as exc:
        await ws.close(code=CLOSE_EXPIRED, reason=str(exc)[:120])
    except ForbiddenError as exc:
        await ws.close(code=CLOSE_FORBIDDEN, reason=str(exc)[:120])
    return None


async def _read_client(ws: WebSocket, session: SocketSession, sub: Subscriber) -> None:
    """What a stream's client sends: renewals of its session. Anything else is answered with
    a problem document and otherwise ignored."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                sub.offer({"seq": None, "type": _GONE}, True)
                return
            body = message.get("bytes") or (message.get("text") or "").encode()
            token = renewal_token(body)
            if token is None:
                problem = problem_of(InputError(
                    'message: the stream takes only {"type": "renew", "token": ...}'))
                sub.offer({"seq": None, "type": "problem", "data": problem.body("/v1/stream")},
                          True)
                continue
            refusal = _renew(session, token)
            if refusal is not None:
                sub.offer({"seq": None, "type": _CLOSE, "code": refusal[0],
                           "reason": refusal[1]}, True)
                return
            sub.offer({"seq": None, "type": "renewed", "data": session.view()}, True)
    except (WebSocketDisconnect, RuntimeError):
        sub.offer({"seq": None, "type": _GONE}, True)
