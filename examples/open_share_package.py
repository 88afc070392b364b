#!/usr/bin/env python3
"""Opens a custodian share package without custodian: the recipient's side.

A recipient of shared customer data needs only its X25519 secret key and
the `cryptography` package (``pip install cryptography``). The format and
key schedule are described in ``src/sharing/package.rs``:

    magic "CUSTSHR1" | manifest length (u32, big-endian) | manifest JSON
    | AES-256-GCM ciphertext and tag | SHA-256 of everything before it

    dh  = X25519(recipient secret, manifest.ephemeral_key)
    key = HKDF-SHA256(salt="custodian/v1/share-package", ikm=dh,
                      info=ephemeral_key || recipient_key, length=32)
    content = AES-256-GCM-open(key, nonce=12 zero bytes,
                               aad=magic|length|manifest, ciphertext)

Usage: ``open_share_package.py PACKAGE SECRET_HEX`` prints the manifest and
the customers as JSON. As a module: ``verify(data)`` and ``open_package(data,
secret)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAGIC = b"CUSTSHR1"
FORMAT = "custodian-share-package/1"
SALT = b"custodian/v1/share-package"


class Rejected(ValueError):
    """The package is not a package, is truncated or altered, or is sealed to another key."""


def verify(data: bytes) -> tuple[dict[str, Any], int]:
    """Checks the magic, the length and the trailing SHA-256 (no key needed);
    returns the manifest and where it ends."""
    if data[:8] != MAGIC:
        raise Rejected("not a custodian share package")
    if len(data) < 12:
        raise Rejected("truncated within the manifest length")
    end = 12 + int.from_bytes(data[8:12], "big")
    if len(data) < end + 16 + 32:
        raise Rejected("truncated")
    if not hmac.compare_digest(hashlib.sha256(data[:-32]).digest(), data[-32:]):
        raise Rejected("altered or truncated: the SHA-256 does not match")
    manifest: dict[str, Any] = json.loads(data[12:end])
    if manifest.get("format") != FORMAT:
        raise Rejected(f"unknown format {manifest.get('format')!r}")
    return manifest, end


def open_package(data: bytes, secret: bytes) -> dict[str, Any]:
    """The manifest and customers of a package sealed to ``secret``'s public key."""
    manifest, end = verify(data)
    private = X25519PrivateKey.from_private_bytes(secret)
    own = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    recipient_key = bytes.fromhex(manifest["recipient_key"])
    if recipient_key != own:
        raise Rejected("sealed to another key")
    ephemeral = bytes.fromhex(manifest["ephemeral_key"])
    try:
        dh = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    except ValueError as e:  # an all-zero shared secret
        raise Rejected(str(e)) from e
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=ephemeral + recipient_key).derive(dh)
    try:
        plain = AESGCM(key).decrypt(bytes(12), data[end:-32], data[:end])
    except Exception as e:  # cryptography raises InvalidTag
        raise Rejected("the content failed to decrypt: altered") from e
    content: dict[str, Any] = json.loads(plain)
    if len(content["customers"]) != manifest["count"]:
        raise Rejected("the manifest's count does not match the content")
    return {"manifest": manifest, "customers": content["customers"]}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-4], file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    try:
        opened = open_package(data, bytes.fromhex(argv[2]))
    except Rejected as e:
        print(f"rejected: {e}", file=sys.stderr)
        return 1
    json.dump(opened, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
