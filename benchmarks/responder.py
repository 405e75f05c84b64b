"""A bare NATS responder in its own process: the floor's request/reply peer."""

from __future__ import annotations

import asyncio
import sys

import nats
from nats.aio.msg import Msg

SUBJECT = "bench.floor.echo"


async def main(url: str) -> None:
    nc = await nats.connect(url)

    async def reply(msg: Msg) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(SUBJECT, cb=reply)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
