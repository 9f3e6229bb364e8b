"""The network the operator has: a proxy from the environment, a private certificate authority, credentials."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pythonnest.core.exceptions import ConfigError, UpstreamUnavailable
from pythonnest.core.models import File, Upstream
from tests.support.builders import build_wheel
from tests.sync.conftest import filenames
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.django_db(transaction=True)


class _LoopbackProxy:
    """What the test proxies share: a server on 127.0.0.1, its URL, stopping it."""

    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ForwardProxy(_LoopbackProxy):
    """A plain HTTP forward proxy on 127.0.0.1 that remembers what it relayed."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self, body=None):
                proxy.seen.append(f"{self.command} {self.path}")
                request = urllib.request.Request(self.path, data=body, method=self.command)
                for key in ("Accept", "Content-Type"):
                    if self.headers.get(key):
                        request.add_header(key, self.headers[key])
                try:
                    answer = direct.open(request, timeout=10)
                except urllib.error.HTTPError as error:
                    answer = error
                data = answer.read()
                self.send_response(answer.status if hasattr(answer, "status") else answer.code)
                for key in ("Content-Type", "X-PyPI-Last-Serial"):
                    if answer.headers.get(key):
                        self.send_header(key, answer.headers[key])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._relay()

            def do_POST(self):
                self._relay(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_http_proxy_from_the_environment_is_used(catalog, update, monkeypatch, distributions):
    proxy = ForwardProxy()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        summary, _ = update(catalog.url)
    finally:
        proxy.stop()
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)
    assert f"GET {catalog.url}simple/" in proxy.seen
    assert f"GET {catalog.url}files/alpha-1.0.tar.gz" in proxy.seen


class TunnelProxy(_LoopbackProxy):
    """An HTTP proxy on 127.0.0.1 that only tunnels (CONNECT), as one in front of an https:// upstream does.

    It relays the bytes both ways without reading them, and counts those coming back from the upstream.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.relayed = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                proxy.seen.append(f"CONNECT {self.path}")
                host, _, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except (OSError, ValueError):
                    self.send_error(502)
                    return
                upstream.settimeout(None)
                proxy._track(upstream, self.connection)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                # The client sends its TLS hello only once it has read the 200: nothing is left in rfile.
                outgoing = threading.Thread(target=proxy._pump, args=(self.connection, upstream, False), daemon=True)
                outgoing.start()
                proxy._pump(upstream, self.connection, True)
                outgoing.join(timeout=10)
                upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets += sockets

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if counted:
                    with self._lock:
                        self.relayed += len(data)
        except OSError:
            pass
        finally:
            try:
                target.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def stop(self) -> None:
        super().stop()
        # Tunnels still open (a kept-alive connection) end with the proxy.
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _certificate_authority(tmp_path):
    """A CA and a server certificate for 127.0.0.1 signed by it; (CA PEM path, server SSL context)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PythonNest test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT), as a real CA's certificates allow.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp_path / "server.pem"
    chain.write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_path, context


def test_a_custom_ca_bundle_is_trusted(distributions, update, tmp_path):
    ca_path, context = _certificate_authority(tmp_path)
    index = FakeIndex().start(ssl_context=context)
    try:
        for path in list(distributions.values())[:3]:
            index.add(path)
        with pytest.raises(UpstreamUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            update(index.url, retry=0)
        summary, _ = update(index.url, ca_bundle=ca_path)
        assert not summary.failed, summary.failures
        assert len(filenames()) == 3
    finally:
        index.stop()


def test_https_proxy_from_the_environment_tunnels_with_connect(distributions, update, monkeypatch, tmp_path):
    ca_path, context = _certificate_authority(tmp_path)
    # A file larger than every page together: what the tunnel relays shows whether the files went through it.
    big = build_wheel(tmp_path / "big", "big", "1.0", module_source=f"DATA = {os.urandom(200_000).hex()!r}\n")
    index = FakeIndex().start(ssl_context=context)
    proxy = TunnelProxy()
    port = index.url.rstrip("/").rsplit(":", 1)[1]
    try:
        for path in [*distributions.values(), big]:
            index.add(path)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        for name in ("https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        summary, _ = update(index.url, ca_bundle=ca_path)
    finally:
        proxy.stop()
        index.stop()
    assert not summary.failed, summary.failures
    assert filenames() == sorted([*distributions, big.name])
    assert proxy.seen and set(proxy.seen) == {f"CONNECT 127.0.0.1:{port}"}
    assert proxy.relayed > big.stat().st_size > 100_000


def test_a_ca_bundle_that_holds_no_certificate_is_one_clear_error(catalog, update, tmp_path):
    # It printed OpenSSL's traceback before, even for an http:// upstream.
    bundle = tmp_path / "not-pem.crt"
    bundle.write_text("this is no certificate\n")
    with pytest.raises(ConfigError, match=f"ca_bundle {bundle}: not usable as certificate authorities"):
        update(catalog.url, ca_bundle=bundle)
    assert filenames() == [] and not Upstream.objects.exists()


def test_the_system_certificate_authorities_are_trusted_by_default(monkeypatch, tmp_path):
    """As docs/configuration.md says: the system's store (SSL_CERT_FILE names another), not certifi's."""
    from pythonnest.sync.client import _ssl_context

    ca_path, _ = _certificate_authority(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    trusted = _ssl_context(None).get_ca_certs()
    assert [entry["subject"] for entry in trusted] == [ssl._ssl._test_decode_cert(str(ca_path))["subject"]]


def test_credentials_in_the_url_reach_a_private_index_and_are_stored_nowhere(catalog, update, distributions):
    catalog.credentials = ("mirror bot", "s3cret@x")
    with pytest.raises(UpstreamUnavailable, match="HTTP 401, the upstream wants credentials"):
        update(catalog.url)
    url = catalog.url.replace("http://", "http://mirror%20bot:s3cret%40x@")
    summary, events = update(url)
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)
    shown = [summary.url, *(message for _, message in events)]
    stored = [*Upstream.objects.values_list("url", flat=True), *File.objects.values_list("upstream_url", flat=True)]
    assert stored and not [text for text in shown + stored if "s3cret" in text or "mirror" in text]


def test_a_password_file_gives_the_password_for_the_user_the_url_names(catalog, update, distributions, tmp_path):
    catalog.credentials = ("mirror-bot", "s3cret")
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n", encoding="utf-8")
    url = catalog.url.replace("http://", "http://mirror-bot@")
    summary, _ = update(url, password_file=password_file)
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)


@pytest.mark.parametrize(
    ("user", "content", "message"),
    [
        ("", "s3cret\n", "the URL names no user"),
        ("mirror-bot@", "\nsecond line\n", "holds no password on its first line"),
        ("mirror-bot@", b"\xff\xfe", "cannot read"),
    ],
)
def test_a_password_file_that_cannot_serve_is_one_clear_error(catalog, update, tmp_path, user, content, message):
    password_file = tmp_path / "password"
    if isinstance(content, bytes):
        password_file.write_bytes(content)
    else:
        password_file.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        update(catalog.url.replace("http://", f"http://{user}"), password_file=password_file)
    assert not catalog.requests
