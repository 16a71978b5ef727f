"""A throw-away self-signed certificate for an HTTPS sandbox on loopback.

``cryptography`` (which Airflow installs) is imported only when a certificate is made, so the rest
of the sandbox keeps running without it.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os

CERT_FILE_NAME = "sandbox-cert.pem"
KEY_FILE_NAME = "sandbox-key.pem"


def make_self_signed_cert(directory: str | os.PathLike[str], *, days: int = 30) -> tuple[Path, Path]:
    """Write a self-signed certificate for ``127.0.0.1`` and ``localhost`` and its key into ``directory``.

    The certificate names ``IP:127.0.0.1``, ``IP:::1`` and ``DNS:localhost`` as subject alternative
    names, so a client that verifies against it (``requests.get(url, verify=cert_path)``) accepts
    the sandbox on either address. It is its own trust anchor: pass the same file as the server's
    ``tls_cert`` and as the client's CA bundle.

    :param directory: an existing directory (a test's ``tmp_path``).
    :param days: how long the certificate stays valid, from one hour ago.
    :return: ``(cert_path, key_path)``, both PEM; the key is unencrypted.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NeetoCal sandbox (localhost)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(directory)
    cert_path = folder / CERT_FILE_NAME
    key_path = folder / KEY_FILE_NAME
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
