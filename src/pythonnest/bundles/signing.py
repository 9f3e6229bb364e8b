"""Ed25519 keys and signatures for bundle manifests.

A public key is one line, ``ed25519 <base64 of the 32 raw bytes> [comment]``,
so that it can sit in pythonnest.ini or in a file. A private key is a PEM
file readable only by its owner.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pythonnest.bundles.format import parse_json, signed_message
from pythonnest.core.exceptions import BundleError

# cryptography is imported by the functions that handle a key, not here:
# loading it costs about 20 ms of the start of every command that imports
# this module, and an unsigned bundle imported without trusted keys never
# needs it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_TYPE = "ed25519"
KEY_ID = re.compile("[0-9a-f]{16}")
SIGNATURE_SIZE = 64


def _raw_bytes(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the start of its sha256."""
    return hashlib.sha256(_raw_bytes(public_key)).hexdigest()[:16]


def public_key_line(public_key: Ed25519PublicKey, comment: str = "") -> str:
    return f"{KEY_TYPE} {base64.b64encode(_raw_bytes(public_key)).decode()} {comment}".rstrip()


def parse_public_key(text: str, where: str) -> Ed25519PublicKey:
    """Read ``ed25519 <base64>`` (or the bare base64). Raises BundleError."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    parts = text.split()
    if parts and parts[0] == KEY_TYPE:
        parts = parts[1:]
    try:
        raw = base64.b64decode(parts[0], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (IndexError, binascii.Error, ValueError) as exc:
        raise BundleError(f"{where}: not an Ed25519 public key") from exc


def _is_inline_key(entry: str) -> bool:
    # A bare key is base64, whose alphabet has "/": 1 key in 64 starts with it.
    if entry.split()[0] == KEY_TYPE:
        return True
    try:
        return len(base64.b64decode(entry, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def load_trusted_keys(entries: list[str], where: str) -> dict[str, Ed25519PublicKey]:
    """Trusted keys by id, from inline keys or paths of .pub files."""
    keys = {}
    for entry in entries:
        path = Path(entry).expanduser()
        if not _is_inline_key(entry) and (entry.startswith(("/", "~", ".")) or path.suffix == ".pub"):
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise BundleError(f"{where}: cannot read trusted key file {entry}: {exc.strerror}") from exc
            key = parse_public_key(text, f"{where}: {entry}")
        else:
            key = parse_public_key(entry, where)
        keys[key_id(key)] = key
    return keys


def generate_key_pair(prefix: Path, comment: str = "") -> tuple[Path, Path, str]:
    """Write ``PREFIX.key`` (private, mode 0600) and ``PREFIX.pub``.

    Returns both paths and the key id. Refuses to overwrite existing files.
    """
    private_path, public_path = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise BundleError(f"{path} already exists; choose another name or remove it first")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_path.write_text(public_key_line(private_key.public_key(), comment) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"cannot write the key pair at {prefix}: {exc.strerror}") from exc
    return private_path, public_path, key_id(private_key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise BundleError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key")
    return key


@dataclass(frozen=True)
class Signature:
    key_id: str
    signature: bytes

    def to_bytes(self) -> bytes:
        body = {"algorithm": KEY_TYPE, "key_id": self.key_id, "signature": base64.b64encode(self.signature).decode()}
        return json.dumps(body, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        try:
            body = parse_json(data)
            if body.get("algorithm") != KEY_TYPE:
                raise ValueError(f"algorithm {body.get('algorithm')!r}")
            key, signature = body["key_id"], base64.b64decode(body["signature"], validate=True)
            # What keygen and export write: 16 hex digits of key id, 64 bytes of Ed25519 signature.
            if not isinstance(key, str) or not KEY_ID.fullmatch(key):
                raise ValueError(f"key id {key!r}")
            if len(signature) != SIGNATURE_SIZE:
                raise ValueError(f"a signature of {len(signature)} bytes, not {SIGNATURE_SIZE}")
            return cls(key_id=key, signature=signature)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise BundleError(f"manifest.sig: malformed signature ({exc})") from exc


def sign(private_key: Ed25519PrivateKey, manifest_sha256: str) -> Signature:
    return Signature(key_id(private_key.public_key()), private_key.sign(signed_message(manifest_sha256)))


def verify(signature: Signature, manifest_sha256: str, trusted: dict[str, Ed25519PublicKey]) -> str:
    """Check the signature against the trusted keys; returns the key id.

    Raises BundleError for an unknown key or a bad signature.
    """
    from cryptography.exceptions import InvalidSignature

    key = trusted.get(signature.key_id)
    if key is None:
        raise BundleError(f"manifest.sig: signed by key {signature.key_id}, which is not among the trusted keys")
    try:
        key.verify(signature.signature, signed_message(manifest_sha256))
    except InvalidSignature as exc:
        raise BundleError(f"manifest.sig: the signature by key {signature.key_id} does not match the manifest") from exc
    return signature.key_id
