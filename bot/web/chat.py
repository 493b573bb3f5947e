"""The local web chat (/chat): talk to the bot in a browser as channel `web`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from bot.messages import Channel, InboundMessage, OutboundMessage
from bot.storage.models import Contact, Direction, Message
from bot.web.keys import CORE, SENDERS

COOKIE = "thuisgevers_chat"
MAX_TEXT = 8000


class WebChatSender:
    """Delivers a pioneer's answer to the web chat: the outbox stores it as a message and
    the page fetches it (GET /chat/messages), so sending only hands out an id."""

    async def send(self, message: OutboundMessage) -> str | None:
        return f"web-{uuid.uuid4().hex}"

PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Thuisgeverstelefoon – chat</title>
<style>
 body{font-family:system-ui,sans-serif;margin:0;background:#f4f1ea;color:#222}
 header{background:#8a3b12;color:#fff;padding:.8rem 1rem;font-weight:600}
 #log{padding:1rem;max-width:40rem;margin:auto;display:flex;flex-direction:column;gap:.5rem;
      padding-bottom:6rem}
 .m{padding:.6rem .8rem;border-radius:.8rem;max-width:85%;white-space:pre-wrap}
 .me{align-self:flex-end;background:#dcf3d0}.bot{align-self:flex-start;background:#fff}
 .choices button{margin:.2rem;padding:.4rem .7rem;border:1px solid #8a3b12;border-radius:1rem;
      background:#fff;color:#8a3b12}
 form{position:fixed;bottom:0;left:0;right:0;display:flex;gap:.5rem;padding:.7rem;background:#fff;
      border-top:1px solid #ddd}
 input{flex:1;font-size:1rem;padding:.6rem;border:1px solid #bbb;border-radius:.5rem}
 button[type=submit]{font-size:1rem;padding:.6rem 1rem;background:#8a3b12;color:#fff;border:0;
      border-radius:.5rem}
</style></head>
<body><header>Thuisgeverstelefoon</header>
<main id="log" aria-live="polite"></main>
<form id="f"><input id="t" autocomplete="off" placeholder="Typ je vraag…" aria-label="Je vraag">
<button type="submit">Stuur</button></form>
<script>
const $=id=>document.getElementById(id),log=$('log'),f=$('f'),t=$('t');
function add(text,cls,choices){const d=document.createElement('div');d.className='m '+cls;
 d.textContent=text;log.appendChild(d);
 if(choices&&choices.length){const c=document.createElement('div');c.className='choices';
  for(const ch of choices){const b=document.createElement('button');b.type='button';
   b.textContent=ch.label;b.onclick=()=>send(ch.value,ch.label);c.appendChild(b);}
  log.appendChild(c);}
 window.scrollTo(0,document.body.scrollHeight);}
async function send(text,shown){add(shown||text,'me');
 const r=await fetch('chat/messages',{method:'POST',headers:{'Content-Type':'application/json'},
  body:JSON.stringify({text})});
 if(!r.ok){add('Er ging iets mis ('+r.status+'). Probeer het zo nog eens.','bot');return;}
 const j=await r.json();for(const m of j.replies)add(m.text,'bot',m.choices);}
f.onsubmit=e=>{e.preventDefault();const v=t.value;t.value='';send(v);};
let after=0;async function poll(){try{const r=await fetch('chat/messages?after='+after);
 if(r.ok){const j=await r.json();after=j.last;for(const m of j.replies)add(m.text,'bot');}}
 catch(e){}setTimeout(poll,POLL*1000);}
const POLL=5;poll();
</script></body></html>
"""


async def page(request: web.Request) -> web.Response:
    response = web.Response(text=PAGE, content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def post_message(request: web.Request) -> web.Response:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise web.HTTPBadRequest(text='expected {"text": "..."}')
    text = data["text"][:MAX_TEXT]
    visitor = request.cookies.get(COOKIE)
    if not visitor or len(visitor) > 64:
        visitor = secrets.token_urlsafe(16)
    handled = await request.app[CORE].helpline.handle(
        InboundMessage(Channel.WEB, f"web:{visitor}", text)
    )
    response = web.json_response({
        "kind": handled.decision.kind.value,
        "id": handled.decision.id,
        "replies": [
            {"text": m.text, "choices": [{"label": c.label, "value": c.value} for c in m.choices]}
            for m in handled.replies
        ],
    })
    response.set_cookie(COOKIE, visitor, httponly=True, samesite="Strict", max_age=86400 * 30)
    return response


async def get_messages(request: web.Request) -> web.Response:
    """Pioneer answers for this visitor after message id `after` (the page polls)."""
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="after must be a number") from None
    visitor = request.cookies.get(COOKIE)
    if not visitor or len(visitor) > 64:
        return web.json_response({"replies": [], "last": after})
    async with request.app[CORE].db.session() as session:
        rows = list((await session.execute(
            select(Message).join(Contact, Contact.id == Message.contact_id)
            .where(Contact.channel == Channel.WEB.value, Contact.address == f"web:{visitor}",
                   Message.direction == Direction.OUT.value)
            .order_by(Message.id)
        )).scalars())
    # The first poll only learns where the conversation stands; later polls get what is new.
    last = rows[-1].id if rows else 0
    if after == 0:
        return web.json_response({"replies": [], "last": last})
    fresh = [m for m in rows if m.id > after and m.kind == "pioneer"]
    return web.json_response({"replies": [{"text": m.text} for m in fresh],
                              "last": max(last, after)})


def setup(app: web.Application) -> None:
    async def own_sender(app: web.Application) -> AsyncIterator[None]:
        app[SENDERS][Channel.WEB] = WebChatSender()
        yield

    app.cleanup_ctx.append(own_sender)
    app.router.add_get("/chat", page)
    app.router.add_get("/chat/", page)
    app.router.add_post("/chat/messages", post_message)
    app.router.add_get("/chat/messages", get_messages)
