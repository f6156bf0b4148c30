"""Certificates for the TAK gateway: a CA, the server's certificate, client certificates, and
the data package a user imports on a phone (as TAK Server's ``makeCert.sh`` and its
"certificate enrollment" packages do).

Files live in ``<data_dir>/certs/``: ``ca.pem``/``ca.key``, ``server.pem``/``server.key``,
``issued.json`` (serials by name) and ``revoked.json``. The TLS listener requires a client
certificate signed by this CA, unexpired (OpenSSL checks both), and not revoked (checked on
connect against ``revoked.json``).
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import secrets
import ssl
import uuid
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from estran.adapters.private_files import private_dir, write_private
from estran.domain.errors import InvalidInputError
from estran.domain.messages import msg

if TYPE_CHECKING:
    from pathlib import Path

    from estran.config import Settings

__all__ = [
    "IssuedClient",
    "certs_dir",
    "init_ca",
    "is_revoked",
    "issue_client",
    "revoke",
    "tls_context",
]


@dataclass(frozen=True)
class IssuedClient:
    """A client's data package and the random password of its PKCS#12 files, to be shown to
    the user once (it is not in the package: ATAK asks for it on import)."""

    package: Path
    password: str
    serial: str

    def __fspath__(self) -> str:
        return str(self.package)


def certs_dir(settings: Settings) -> Path:
    return settings.data_dir / "certs"


def _name(common: str, org: str = "Estran") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def init_ca(folder: Path, hosts: list[str], days: int = 3650, force: bool = False) -> Path:
    """Make the CA and the server certificate (for ``hosts``: names or IP addresses)."""
    private_dir(folder)
    if (folder / "ca.pem").exists() and not force:
        raise InvalidInputError(
            msg("{folder} already has a CA; pass --force to replace it", folder=folder)
        )
    ca_key = _key()
    start = _now() - dt.timedelta(minutes=5)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Estran CA"))
        .issuer_name(_name("Estran CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(folder / "ca.key", ca_key)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = _key()
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0] if hosts else "estran"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=min(days, 825)))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(folder / "server.key", server_key)
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "issued.json").write_text("{}")
    (folder / "revoked.json").write_text("[]")
    return folder


LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


def server_names(folder: Path) -> list[str]:
    """The names and addresses the server certificate is valid for (its SANs), in order."""
    path = folder / "server.pem"
    if not path.exists():
        raise InvalidInputError(
            msg("no server certificate in {folder}: run `estran certs init`", folder=folder)
        )
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in sans if isinstance(n, x509.DNSName | x509.IPAddress)]


def _load_ca(folder: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    if not (folder / "ca.pem").exists():
        raise InvalidInputError(
            msg("no CA in {folder}: run `estran certs init` first", folder=folder)
        )
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInputError(msg("the CA key is not an RSA key"))
    return ca, key


def issue_client(
    folder: Path,
    name: str,
    *,
    server_host: str,
    tls_port: int,
    out_dir: Path,
    days: int = 365,
    password: str | None = None,
    valid_from: dt.datetime | None = None,
) -> IssuedClient:
    """A client certificate for ``name`` and its data package (zip) for ATAK/iTAK/WinTAK,
    protected by a random password (``IssuedClient.password``) unless one is given. Every
    serial issued to ``name`` is kept, so ``revoke`` revokes them all."""
    password = password or secrets.token_urlsafe(12)
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInputError(msg("a client name is 1-64 letters, digits, '-', '_' or '.'"))
    ca, ca_key = _load_ca(folder)
    key = _key()
    start = valid_from or (_now() - dt.timedelta(minutes=5))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    enc = serialization.BestAvailableEncryption(password.encode())
    client_p12 = pkcs12.serialize_key_and_certificates(name.encode(), key, cert, [ca], enc)
    trust_p12 = pkcs12.serialize_key_and_certificates(b"estran-ca", None, None, [ca], enc)
    private_dir(out_dir)
    write_private(out_dir / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out_dir / f"{name}.key", key)
    serial = format(cert.serial_number, "X")
    issued = _issued(folder)
    issued[name] = [*issued.get(name, []), serial]
    write_private(folder / "issued.json", json.dumps(issued, indent=1).encode())
    pref = f"""<?xml version='1.0' encoding='ASCII' standalone='yes'?>
<preferences>
  <preference version="1" name="cot_streams">
    <entry key="count" class="class java.lang.Integer">1</entry>
    <entry key="description0" class="class java.lang.String">Estran</entry>
    <entry key="enabled0" class="class java.lang.Boolean">true</entry>
    <entry key="connectString0" class="class java.lang.String">{server_host}:{tls_port}:ssl</entry>
  </preference>
  <preference version="1" name="com.atakmap.app_preferences">
    <entry key="displayServerConnectionWidget" class="class java.lang.Boolean">true</entry>
    <entry key="caLocation" class="class java.lang.String">cert/truststore-estran.p12</entry>
    <entry key="certificateLocation" class="class java.lang.String">cert/{name}.p12</entry>
  </preference>
</preferences>
"""
    manifest = f"""<MissionPackageManifest version="2">
  <Configuration>
    <Parameter name="uid" value="{uuid.uuid4()}"/>
    <Parameter name="name" value="estran-{name}"/>
    <Parameter name="onReceiveDelete" value="true"/>
  </Configuration>
  <Contents>
    <Content ignore="false" zipEntry="cert/server.pref"/>
    <Content ignore="false" zipEntry="cert/truststore-estran.p12"/>
    <Content ignore="false" zipEntry="cert/{name}.p12"/>
  </Contents>
</MissionPackageManifest>
"""
    package = out_dir / f"{name}-datapackage.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("MANIFEST/manifest.xml", manifest)
        z.writestr("cert/server.pref", pref)
        z.writestr("cert/truststore-estran.p12", trust_p12)
        z.writestr(f"cert/{name}.p12", client_p12)
    write_private(package, buffer.getvalue())
    return IssuedClient(package, password, serial)


def _issued(folder: Path) -> dict[str, list[str]]:
    """Serials by client name (an older file held one serial per name)."""
    path = folder / "issued.json"
    raw = json.loads(path.read_text() or "{}") if path.exists() else {}
    return {name: [s] if isinstance(s, str) else list(s) for name, s in raw.items()}


def revoke(folder: Path, name: str) -> list[str]:
    """Revoke every certificate ever issued to ``name``; returns their serials."""
    serials = _issued(folder).get(name)
    if not serials:
        raise InvalidInputError(msg("no certificate was issued to {name!r}", name=name))
    path = folder / "revoked.json"
    revoked = set(json.loads(path.read_text() or "[]")) if path.exists() else set()
    revoked.update(serials)
    write_private(path, json.dumps(sorted(revoked)).encode())
    return serials


def is_revoked(folder: Path, serial_hex: str) -> bool:
    path = folder / "revoked.json"
    if not path.exists():
        return False
    revoked = {s.upper() for s in json.loads(path.read_text() or "[]")}
    return serial_hex.upper().lstrip("0") in {s.lstrip("0") for s in revoked}


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS listener's context (client certificates required), or None without certs."""
    folder = certs_dir(settings)
    if settings.cot_tls_port is None or not (folder / "server.pem").exists():
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(folder / "server.pem", folder / "server.key")
    ctx.load_verify_locations(folder / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
