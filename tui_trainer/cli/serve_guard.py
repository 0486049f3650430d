"""The door in front of textual-serve: no request reaches the console without the token.

textual-serve (an aiohttp app) starts a console, running as this user, for every WebSocket that
connects, and checks nothing. This middleware, put in front of its app, answers 403 to

- a `Host` that is not the served address (a web page whose DNS name was rebound to 127.0.0.1),
- an `Origin` that is not the served origin (a web page elsewhere opening the WebSocket),
- any request without the token: `?token=`, the cookie set by the first authorised page load, or
  `Authorization: token TOKEN`.

The first page load with `?token=` gets the cookie (HttpOnly, SameSite=Strict) and is redirected to
the same address without the token, so it leaves the address bar and the history; the page's
scripts and its WebSocket then carry the cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from .serve_address import Address

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard(token: str, address: Address) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The middleware; `app.middlewares.insert(0, guard(...))` puts it before everything else."""
    hosts, origins = address.hosts(), address.origins()
    cookie = f"tui-trainer-token-{address.port}"  # cookies ignore ports: two servers keep one each
    expected = token.encode()

    def matches(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(errors="replace"), expected)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get(hdrs.HOST, "").lower() not in hosts:
            raise web.HTTPForbidden(text="tui-trainer: this server answers only to its own address\n")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin.lower() not in origins:
            raise web.HTTPForbidden(text="tui-trainer: requests from other sites are refused\n")
        from_query = matches(request.query.get("token"))
        authorisation = request.headers.get(hdrs.AUTHORIZATION, "")
        from_header = authorisation[:6].lower() == "token " and matches(authorisation[6:].strip())
        if not (from_query or from_header or matches(request.cookies.get(cookie))):
            raise web.HTTPForbidden(text="tui-trainer: open the address with ?token= that --serve printed\n")
        if from_query and request.method == hdrs.METH_GET and not _is_websocket(request):
            kept = [(key, value) for key, value in request.query.items() if key != "token"]
            redirect = web.HTTPSeeOther(request.rel_url.with_query(kept or None))
            redirect.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
            redirect.headers[hdrs.CACHE_CONTROL] = "no-store"
            raise redirect
        return await handler(request)

    return middleware


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
