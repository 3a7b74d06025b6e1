"""A throwaway certificate authority for tests that speak TLS to a local server (an SMTP relay, PostgreSQL,
nginx, an AWS endpoint): a client is told to trust its certificate (`path`), and it issues server
certificates for DNS names and IP addresses. Everything is written as PEM files into a folder."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# From yesterday, so a clock a little behind the test machine's (a server's) takes it too.
VALID_FROM = datetime.timedelta(days=-1)
VALID_UNTIL = datetime.timedelta(days=2)


@dataclass(frozen=True)
class ServerCertificate:
    certificate: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _alternative_name(name: str) -> x509.GeneralName:
    """An IP address as such (a client checks it against the address it dialled), else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + VALID_FROM)
        .not_valid_after(now + VALID_UNTIL)
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)  # PostgreSQL refuses a key others can read


class CertificateAuthority:
    """A CA named `name`, its certificate written to `folder / file_name`."""

    def __init__(self, folder: Path, name: str = "twostep test authority", file_name: str = "ca.pem") -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._subject = _name(name)
        certificate = (
            _builder(self._subject, self._subject, self._key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.path = folder / file_name
        self.path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    def issue(
        self, *names: str, certificate: str = "server.pem", key: str = "server.key"
    ) -> ServerCertificate:
        """A server certificate for `names` (DNS names or IP addresses; the first is also its common name),
        and its key, written to `certificate` and `key` in the authority's folder."""
        server_key = ec.generate_private_key(ec.SECP256R1())
        issued = (
            _builder(_name(names[0]), self._subject, server_key)
            .add_extension(x509.SubjectAlternativeName([_alternative_name(n) for n in names]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        found = ServerCertificate(self.folder / certificate, self.folder / key)
        found.certificate.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
        _write_key(found.key, server_key)
        return found
