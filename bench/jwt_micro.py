"""Microbenchmark: CPU µs per JWT sign and verify, in process, for each access-token algorithm.

Run against a migrated database (it uses the stored signing keys, as the server does):

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/jwt_micro.py [--n 3000]

It measures ``oauth.tokens.sign`` and ``oauth.keys.verify_jwt`` exactly as a
request calls them (per-worker key cache warm, version check included), with
the RFC 9068 claims of a client-credentials token. Not a test: numbers vary
with the machine; compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")


def claims() -> dict:
    now = int(time.time())
    return {
        "iss": "https://id.example.com",
        "sub": "bench-client",
        "aud": "bench-client",
        "client_id": "bench-client",
        "scope": "read write",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
    }


def per_op_us(fn, n: int) -> float:
    for _ in range(min(200, n)):
        fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="operations per measurement")
    args = parser.parse_args()

    import django

    django.setup()
    from oauth import keys, tokens

    keys.ensure_signing_keys()
    body = claims()
    print("| algorithm | sign µs/op | verify µs/op |")
    print("|---|---|---|")
    for algorithm in keys.SUPPORTED_ALGORITHMS:
        token = tokens.sign(body, typ="at+jwt", algorithm=algorithm)
        sign_us = per_op_us(
            lambda a=algorithm: tokens.sign(body, typ="at+jwt", algorithm=a), args.n
        )
        verify_us = per_op_us(lambda t=token: keys.verify_jwt(t, expected_typ="at+jwt"), args.n)
        print(f"| {algorithm} | {sign_us:.0f} | {verify_us:.0f} |")


if __name__ == "__main__":
    main()
