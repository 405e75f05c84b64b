"""Attempt tokens: what binds a claim and a result to the task the reactor sent out.

Every activity task carries ``token``, a keyed digest of its event id and attempt
under a secret only the reactors hold (kept in Redis, made once by the first
reactor). Only a worker that received the task knows it: its claim subject
derives from it (``shared.names.activity_claim_subject``), so nobody can claim an
attempt ahead of its task, and its result must carry it, so nobody can complete,
fail or fire an event they were not given. The token is computed, never stored:
checking one costs no Redis round trip, and a re-dispatch after a crash carries
the same token as the first send (JetStream drops it as a duplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from reactor.store import Store

__all__ = ["AttemptTokens"]

_SECRET_BYTES = 32


class AttemptTokens:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("an attempt-token secret needs at least 16 bytes")
        self._secret = secret

    @classmethod
    async def load(cls, store: Store) -> AttemptTokens:
        """The secret shared by every reactor of this Redis prefix: made by the first one."""
        return cls(bytes.fromhex(await store.attempt_secret(secrets.token_hex(_SECRET_BYTES))))

    def token(self, event_id: str, attempt: int) -> str:
        return hashlib.blake2b(f"{event_id}\n{attempt}".encode(), key=self._secret, digest_size=16).hexdigest()

    def valid(self, event_id: str, attempt: int, token: str) -> bool:
        # As bytes: compare_digest raises TypeError on str with non-ASCII characters, and the
        # token is whatever the sender put there.
        return hmac.compare_digest(self.token(event_id, attempt).encode(), token.encode())
