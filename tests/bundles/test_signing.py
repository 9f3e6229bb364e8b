"""Ed25519 keys and manifest signatures."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from pythonnest.bundles import signing
from pythonnest.bundles.format import signed_message
from pythonnest.core.exceptions import BundleError

DIGEST = "5" * 64


@pytest.fixture
def key_pair(tmp_path):
    private_path, public_path, key_id = signing.generate_key_pair(tmp_path / "keys" / "bundle", "build-host")
    return private_path, public_path, key_id


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_line(key_pair):
    private_path, public_path, key_id = key_pair
    assert private_path.name == "bundle.key" and public_path.name == "bundle.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    kind, encoded, comment = public_path.read_text().split()
    assert (kind, comment) == ("ed25519", "build-host")
    assert len(base64.b64decode(encoded)) == 32
    private_key = signing.load_private_key(private_path)
    assert signing.key_id(private_key.public_key()) == key_id
    assert len(key_id) == 16


def test_keygen_never_overwrites_a_key(key_pair, tmp_path):
    private_path, _, _ = key_pair
    before = private_path.read_bytes()
    with pytest.raises(BundleError, match="bundle.key already exists"):
        signing.generate_key_pair(tmp_path / "keys" / "bundle")
    assert private_path.read_bytes() == before
    private_path.unlink()
    # Even the public half alone stops it: the pair must stay a pair.
    with pytest.raises(BundleError, match="bundle.pub already exists"):
        signing.generate_key_pair(tmp_path / "keys" / "bundle")
    assert not private_path.exists()


def test_keygen_command_prints_the_files_and_the_key_id(tmp_path, capsys):
    call_command("keygen", str(tmp_path / "site"), "--comment", "connected")
    out = capsys.readouterr().out
    key_id = signing.key_id(signing.load_private_key(tmp_path / "site.key").public_key())
    assert f"Key id: {key_id}" in out
    assert str(tmp_path / "site.key") in out and str(tmp_path / "site.pub") in out
    with pytest.raises(CommandError, match="already exists"):
        call_command("keygen", str(tmp_path / "site"))


def test_a_signature_verifies_against_its_public_key(key_pair):
    private_path, public_path, key_id = key_pair
    signature = signing.sign(signing.load_private_key(private_path), DIGEST)
    trusted = signing.load_trusted_keys([str(public_path)], "TRUSTED_KEYS")
    assert signing.verify(signing.Signature.from_bytes(signature.to_bytes()), DIGEST, trusted) == key_id


def test_the_signature_file_is_the_documented_json(key_pair):
    private_path, _, key_id = key_pair
    private_key = signing.load_private_key(private_path)
    body = json.loads(signing.sign(private_key, DIGEST).to_bytes())
    assert set(body) == {"algorithm", "key_id", "signature"}
    assert (body["algorithm"], body["key_id"]) == ("ed25519", key_id)
    # The documented message: anyone can check it with any Ed25519 library.
    private_key.public_key().verify(base64.b64decode(body["signature"]), signed_message(DIGEST))


def test_a_signature_of_another_digest_does_not_match(key_pair):
    private_path, public_path, key_id = key_pair
    signature = signing.sign(signing.load_private_key(private_path), DIGEST)
    trusted = signing.load_trusted_keys([str(public_path)], "TRUSTED_KEYS")
    with pytest.raises(BundleError, match=f"manifest.sig: the signature by key {key_id} does not match the manifest"):
        signing.verify(signature, "6" * 64, trusted)


def test_a_forged_signature_under_a_trusted_key_id_does_not_match(key_pair, tmp_path):
    _, public_path, key_id = key_pair
    other_private, _, _ = signing.generate_key_pair(tmp_path / "other")
    forged = signing.sign(signing.load_private_key(other_private), DIGEST)
    forged = signing.Signature(key_id=key_id, signature=forged.signature)
    trusted = signing.load_trusted_keys([str(public_path)], "TRUSTED_KEYS")
    with pytest.raises(BundleError, match="does not match the manifest"):
        signing.verify(forged, DIGEST, trusted)


def test_an_unknown_key_is_named(key_pair, tmp_path):
    _, public_path, _ = key_pair
    other_private, _, other_id = signing.generate_key_pair(tmp_path / "other")
    signature = signing.sign(signing.load_private_key(other_private), DIGEST)
    trusted = signing.load_trusted_keys([str(public_path)], "TRUSTED_KEYS")
    with pytest.raises(BundleError, match=f"signed by key {other_id}, which is not among the trusted keys"):
        signing.verify(signature, DIGEST, trusted)
    with pytest.raises(BundleError, match="not among the trusted keys"):
        signing.verify(signature, DIGEST, {})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'"a string"',
        b'{"algorithm": "rsa", "key_id": "x", "signature": ""}',
        b'{"algorithm": "ed25519", "signature": "AAAA"}',
        b'{"algorithm": "ed25519", "key_id": "x", "signature": "not base64!"}',
        b'{"algorithm": "ed25519", "key_id": "x"}',
        b"\xff\xfe\x00",
        # Well-formed JSON, but not what export writes: a short signature, a bad key id.
        b'{"algorithm": "ed25519", "key_id": "a27b518edc07acd5", "signature": "AAAA"}',
        b'{"algorithm": "ed25519", "key_id": "x", "signature": "' + base64.b64encode(bytes(64)) + b'"}',
        b'{"algorithm": "ed25519", "key_id": 7, "signature": "' + base64.b64encode(bytes(64)) + b'"}',
        # json.loads raises RecursionError and ValueError for these, not JSONDecodeError.
        b"[" * 100_000,
        b'{"algorithm": "ed25519", "key_id": ' + b"1" * 5000 + b', "signature": ""}',
    ],
)
def test_a_malformed_signature_file_is_one_clear_error(data):
    with pytest.raises(BundleError, match="^manifest.sig: malformed signature"):
        signing.Signature.from_bytes(data)


def test_trusted_keys_inline_or_from_files(key_pair, tmp_path):
    _, public_path, key_id = key_pair
    inline = public_path.read_text().strip()
    bare = inline.split()[1]
    _, second_public, second_id = signing.generate_key_pair(tmp_path / "second")
    keys = signing.load_trusted_keys([inline, str(second_public)], "TRUSTED_KEYS")
    assert set(keys) == {key_id, second_id}
    assert set(signing.load_trusted_keys([bare], "TRUSTED_KEYS")) == {key_id}


def test_a_bare_key_that_starts_with_a_slash_is_a_key_not_a_path():
    """Base64 has "/" in its alphabet: one key in 64 starts with it."""
    while True:
        public_key = Ed25519PrivateKey.generate().public_key()
        bare = signing.public_key_line(public_key).split()[1]
        if bare.startswith("/"):
            break
    assert set(signing.load_trusted_keys([bare], "TRUSTED_KEYS")) == {signing.key_id(public_key)}


@pytest.mark.parametrize("entry", ["ed25519 AAAA", "ed25519", "ed25519 !!!!", "ssh-rsa AAAAB3NzaC1yc2E"])
def test_a_bad_inline_key_is_refused(entry):
    with pytest.raises(BundleError, match="^TRUSTED_KEYS: not an Ed25519 public key"):
        signing.load_trusted_keys([entry], "TRUSTED_KEYS")


def test_a_missing_key_file_is_named(tmp_path):
    missing = tmp_path / "nope.pub"
    with pytest.raises(BundleError, match=f"cannot read trusted key file {missing}"):
        signing.load_trusted_keys([str(missing)], "TRUSTED_KEYS")


def test_a_key_file_that_is_not_a_key_is_named(tmp_path):
    path = tmp_path / "junk.pub"
    path.write_text("hello\n")
    with pytest.raises(BundleError, match=f"TRUSTED_KEYS: {path}: not an Ed25519 public key"):
        signing.load_trusted_keys([str(path)], "TRUSTED_KEYS")


def test_private_key_errors_are_one_line(tmp_path, key_pair):
    with pytest.raises(BundleError, match="cannot read signing key"):
        signing.load_private_key(tmp_path / "absent.key")
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    with pytest.raises(BundleError, match="is not an unencrypted PEM private key"):
        signing.load_private_key(junk)
    # A public key file is not a private key.
    with pytest.raises(BundleError, match="is not an unencrypted PEM private key"):
        signing.load_private_key(key_pair[1])


def test_a_private_key_of_another_kind_is_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "ec.key"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(BundleError, match="is not an Ed25519 private key"):
        signing.load_private_key(path)
