"""The Twilio adapter for SMS and WhatsApp: a Messaging webhook's form to an
`InboundMessage`, `OutboundMessage`s to TwiML or to REST message bodies, and the
`X-Twilio-Signature` check.

A `From` of `whatsapp:+31…` is the WhatsApp channel, anything else SMS; the address is
kept as Twilio gives it, so a WhatsApp reply goes back to `whatsapp:+31…`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlparse

from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import (
    RequestValidator,
    compare,
    get_signature_algorithm,
    remove_port,
)

from bot.formatting import for_channel, split_long
from bot.messages import Channel, InboundMessage, OutboundMessage

WHATSAPP_PREFIX = "whatsapp:"
# Twilio refuses a message body over 1600 characters (SMS is far shorter after for_channel).
MAX_BODY = 1600
MAX_MEDIA = 10

Form = MultiDictProxy[str]


class BadForm(ValueError):
    """The webhook body is not a Twilio Messaging form."""


def parse_form(body: bytes) -> Form:
    """A strictly decoded `application/x-www-form-urlencoded` body."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          strict_parsing=bool(body), errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadForm(str(error)) from None
    return MultiDictProxy(MultiDict(pairs))


def signature_valid(auth_token: str, url: str, form: Form, signature: str,
                    settings_header: str | None = None) -> bool:
    """Whether Twilio signed exactly this URL (scheme included) and these fields."""
    algorithm = get_signature_algorithm(settings_header)
    validator = RequestValidator(auth_token)
    # The library computes the signature over the URL with and without its port, always;
    # the usual case (the URL as given, no port) is tried alone first.
    try:
        if compare(validator.compute_signature(remove_port(urlparse(url)), form, algorithm),
                   signature):
            return True
    except ValueError:  # an algorithm it does not know: validate() says no, and logs it
        pass
    return bool(validator.validate(url, form, signature, algorithm))


def channel_of(address: str) -> Channel:
    return Channel.WHATSAPP if address.startswith(WHATSAPP_PREFIX) else Channel.SMS


def media_of(form: Mapping[str, str]) -> tuple[str, ...]:
    """References to attachments: `MediaUrlN (MediaContentTypeN)`, and a shared location."""
    refs: list[str] = []
    try:
        count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if url:
            kind = form.get(f"MediaContentType{i}", "")
            refs.append(f"{url} ({kind})" if kind else url)
    latitude, longitude = form.get("Latitude"), form.get("Longitude")
    if latitude and longitude:
        refs.append(f"location:{latitude},{longitude}")
    return tuple(refs)


def is_status_callback(form: Mapping[str, str]) -> bool:
    """A delivery report of one of our own messages (a status callback pointed at the
    Messaging webhook by mistake): never to be answered, or we would text ourselves."""
    return "MessageStatus" in form or form.get("SmsStatus", "received") not in ("received", "")


def inbound_from_form(form: Mapping[str, str]) -> InboundMessage:
    """The helpline's view of a Messaging webhook; `BadForm` without a sender."""
    address = form.get("From", "").strip()
    if not address or address == WHATSAPP_PREFIX:
        raise BadForm("no From")
    sid = form.get("MessageSid") or form.get("SmsSid") or None
    name = form.get("ProfileName") or None
    return InboundMessage(channel_of(address), address, form.get("Body", ""), name, sid,
                          media=media_of(form))


def whatsapp_text(message: OutboundMessage) -> str:
    """WhatsApp's own formatting: the offered choices (the numbered lines) in *bold*."""
    labels = {c.label for c in message.choices}
    lines = []
    for line in message.text.split("\n"):
        stripped = line.strip()
        if stripped in labels and "*" not in stripped:
            number, sep, label = stripped.partition(") ")
            line = f"{number}) *{label}*" if sep and number.isdigit() else f"*{stripped}*"
        lines.append(line)
    return "\n".join(lines)


def bodies(message: OutboundMessage) -> list[str]:
    """The message as the text of one or more Twilio messages."""
    if message.channel is Channel.WHATSAPP:
        return split_long(whatsapp_text(message), MAX_BODY)
    return [for_channel(message.text, Channel.SMS)]


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def twiml(replies: Iterable[OutboundMessage]) -> str:
    """A TwiML `<Response>` with one `<Message>` per body; empty when there is none.

    Written out directly: the same characters as the twilio library's `MessagingResponse`
    (tests/test_twilio.py compares them) without building an element tree per webhook."""
    messages = "".join(f"<Message>{_xml_text(body)}</Message>" if body else "<Message />"
                       for reply in replies for body in bodies(reply))
    if not messages:
        return XML_DECLARATION + "<Response />"
    return f"{XML_DECLARATION}<Response>{messages}</Response>"
