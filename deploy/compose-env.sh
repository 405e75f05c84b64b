#!/bin/sh
# Random passwords for docker-compose.yml, one per NATS user of deploy/nats/auth.conf and one
# for Redis:  sh deploy/compose-env.sh > .env   (compose reads .env; keep it out of git).
# Hex only: the passwords sit inside URLs (EE_NATS_URL, EE_REDIS_URL) unescaped.
set -eu
for name in NATS_PASSWORD_REACTOR NATS_PASSWORD_EXECUTOR NATS_PASSWORD_WORKER NATS_PASSWORD_BOT_B1 \
            NATS_PASSWORD_CLIENT NATS_PASSWORD_OPERATOR REDIS_PASSWORD; do
  printf '%s=%s\n' "$name" "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
done
