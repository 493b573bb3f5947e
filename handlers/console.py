"""The console adapter: talk to the bot in a terminal as channel `console`."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.helpline import Helpline
from bot.messages import Channel, InboundMessage

PROMPT = "jij> "
EXIT_WORDS = frozenset({"/quit", "/exit", "/stop"})


async def chat(helpline: Helpline, address: str = "console",
               stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until end of input (or /quit) and print the bot's replies."""
    interactive = stdin.isatty()
    stdout.write("Thuisgeverstelefoon (typ /quit om te stoppen)\n")
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line or line.strip() in EXIT_WORDS:
            break
        handled = await helpline.handle(InboundMessage(Channel.CONSOLE, address, line.rstrip("\n")))
        for reply in handled.replies:
            stdout.write(f"bot> {reply.text}\n")
            for choice in reply.choices:
                stdout.write(f"     [{choice.value}] {choice.label}\n")
        stdout.flush()
