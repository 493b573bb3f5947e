"""The pioneers' web inbox (/inbox): server-rendered with aiohttp-jinja2.

Login with an account from `python -m bot pioneers add NAME`; a server-side session
behind an HttpOnly, SameSite=Strict cookie (Secure when PUBLIC_URL is https); a CSRF
token in every form, checked on every POST (the login form's token is a double-submit
cookie, later ones belong to the session). Every page carries a strict CSP and may not be
framed. All text is escaped by jinja2's autoescape.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot import suggestions
from bot.messages import Channel, utcnow
from bot.pioneers import Login, LoginThrottle, Pioneers
from bot.storage.models import TicketStatus
from bot.tickets import IN_INBOX, TicketError, Tickets, label
from bot.web.keys import CORE, SETTINGS
from bot.web.queue import TICKETS

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
JINJA = web.AppKey("inbox_jinja", jinja2.Environment)
PIONEERS = web.AppKey("pioneers", Pioneers)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
SESSION_COOKIE = "thuisgevers_inbox"
LOGIN_CSRF_COOKIE = "thuisgevers_login_csrf"
NOTICES = {
    "claim": "Opgepakt: de bot praat niet meer met deze persoon tot je antwoordt of sluit.",
    "answer": "Antwoord opgeslagen; het wordt nu bezorgd.",
    "close": "Gesloten.",
    "retry": "Mislukte of onzekere antwoorden worden opnieuw verstuurd.",
    "suggest": "Suggestie geschreven in knowledge/suggestions/ (concept, nog niet gebruikt).",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = TypeVar("R", bound=web.StreamResponse)


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].base_url.startswith("https://")


def _headers(response: R) -> R:
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _render(name: str, request: web.Request, context: dict[str, Any],
            status: int = 200) -> web.StreamResponse:
    response = aiohttp_jinja2.render_template(name, request, context, status=status,
                                              app_key=JINJA)
    return _headers(response)


def _redirect(location: str) -> web.HTTPSeeOther:
    redirect = web.HTTPSeeOther(location)
    _headers(redirect)
    return redirect


def _cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
            max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/inbox",
                        secure=_secure(request), max_age=max_age)


async def _login(request: web.Request) -> Login | None:
    return await request.app[PIONEERS].session_for(request.cookies.get(SESSION_COOKIE))


async def _form(request: web.Request, login: Login | None) -> dict[str, str]:
    """The posted form, after the CSRF check (403 without a matching token)."""
    form = await request.post()
    sent = form.get("csrf")
    expected = login.csrf_token if login else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise _headers(web.HTTPForbidden(text="CSRF-controle mislukt. Laad de pagina opnieuw."))
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _required(handler: Callable[[web.Request, Login], Awaitable[web.StreamResponse]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        login = await _login(request)
        if login is None:
            raise _redirect("/inbox/login")
        return await handler(request, login)

    return wrapped


async def login_page(request: web.Request, error: str | None = None,
                     status: int = 200) -> web.StreamResponse:
    if error is None and await _login(request) is not None:
        raise _redirect("/inbox")
    token = secrets.token_urlsafe(32)
    response = _render("login.html", request, {"csrf": token, "error": error}, status)
    _cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    return await login_page(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await _form(request, None)
    name = form.get("name", "").strip()[:64]
    key = f"{name.lower()}|{request.remote}"
    throttle = request.app[THROTTLE]
    if throttle.blocked(key):
        return await login_page(request, "Te veel pogingen. Probeer het over een kwartier "
                                         "opnieuw.", 429)
    pioneers = request.app[PIONEERS]
    pioneer = await pioneers.verify(name, form.get("password", ""))
    if pioneer is None:
        throttle.failed(key)
        return await login_page(request, "Naam of wachtwoord klopt niet.", 401)
    throttle.succeeded(key)
    hours = request.app[SETTINGS].inbox_session_hours
    token, _ = await pioneers.start_session(pioneer, timedelta(hours=hours))
    response = _redirect("/inbox")
    _cookie(request, response, SESSION_COOKIE, token, max_age=hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/inbox")
    raise response


@_required
async def logout(request: web.Request, login: Login) -> web.StreamResponse:
    await _form(request, login)
    await request.app[PIONEERS].end_session(request.cookies.get(SESSION_COOKIE))
    response = _redirect("/inbox/login")
    response.del_cookie(SESSION_COOKIE, path="/inbox")
    raise response


def _age(since: Any) -> str:
    minutes = int((utcnow() - since).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} uur"
    return f"{minutes // 1440} dagen"


@_required
async def listing(request: web.Request, login: Login) -> web.StreamResponse:
    status = request.query.get("status", "")
    channel = request.query.get("channel", "")
    statuses = ((TicketStatus(status),) if status in {s.value for s in TicketStatus}
                else IN_INBOX)
    chosen = Channel(channel) if channel in {c.value for c in Channel} else None
    cards = await request.app[TICKETS].list_tickets(statuses, chosen)
    return _render("list.html", request, {
        "login": login, "tickets": cards, "age": _age, "status": status, "channel": channel,
        "statuses": [s.value for s in TicketStatus], "channels": [c.value for c in Channel],
    })


def _number(request: web.Request) -> int:
    try:
        return int(request.match_info["number"])
    except ValueError:
        raise web.HTTPNotFound() from None


@_required
async def ticket_page(request: web.Request, login: Login) -> web.StreamResponse:
    return await _ticket(request, login)


async def _ticket(request: web.Request, login: Login, error: str | None = None,
                  notice: str | None = None, status: int = 200) -> web.StreamResponse:
    tickets: Tickets = request.app[TICKETS]
    try:
        detail = await tickets.get(_number(request))
    except TicketError:
        raise web.HTTPNotFound(text="Deze vraag bestaat niet.") from None
    return _render("ticket.html", request, {
        "login": login, "t": detail.card, "deliveries": detail.deliveries, "age": _age,
        "error": error, "notice": notice or NOTICES.get(request.query.get("ok", "")),
    }, status)


def _action(kind: str) -> Handler:
    @_required
    async def act(request: web.Request, login: Login) -> web.StreamResponse:
        form = await _form(request, login)
        number = _number(request)
        tickets: Tickets = request.app[TICKETS]
        try:
            if kind == "claim":
                await tickets.claim(number, login.name)
            elif kind == "answer":
                await tickets.answer(number, form.get("text", ""), login.name)
            elif kind == "close":
                await tickets.close(number, login.name)
            elif kind == "retry":
                await tickets.retry(number)
            else:
                detail = await tickets.get(number)
                suggestions.write(request.app[CORE].settings.knowledge_dir, detail)
        except (TicketError, suggestions.SuggestionError) as exc:
            return await _ticket(request, login, error=str(exc), status=409)
        raise _redirect(f"/inbox/tickets/{number}?ok={kind}")

    return act


async def stylesheet(_request: web.Request) -> web.StreamResponse:
    return _headers(web.FileResponse(STATIC / "inbox.css"))


def setup(app: web.Application) -> None:
    """The inbox routes; the ticket service comes from bot.web.queue (set up before)."""
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES), app_key=JINJA,
        autoescape=jinja2.select_autoescape(["html"], default=True),
        filters={"label": label},
    )
    app[THROTTLE] = LoginThrottle()

    async def own_pioneers(app: web.Application) -> Any:
        app[PIONEERS] = Pioneers(app[CORE].db)
        yield

    app.cleanup_ctx.append(own_pioneers)
    app.router.add_get("/inbox", listing)
    app.router.add_get("/inbox/", listing)
    app.router.add_get("/inbox/login", login_get)
    app.router.add_post("/inbox/login", login_post)
    app.router.add_post("/inbox/logout", logout)
    app.router.add_get("/inbox/inbox.css", stylesheet)
    app.router.add_get(r"/inbox/tickets/{number:\d+}", ticket_page)
    for kind in ("claim", "answer", "close", "retry", "suggest"):
        app.router.add_post(rf"/inbox/tickets/{{number:\d+}}/{kind}", _action(kind))
