"""The self-signed certificate the lab's HTTPS port serves (clients of the vSphere API insist on
TLS: vmware_exporter always, govc by default). Made once under VAR_DIR and kept, so a client
that pinned its thumbprint keeps trusting it across restarts."""

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = (
    825  # the longest validity Apple's and browsers' rules accept for a TLS server certificate
)
CERT_NAME = "tls-cert.pem"
KEY_NAME = "tls-key.pem"


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) under `directory`, made now if either is missing."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "vmemlab"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vmemlab (self-signed)"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    alt_names = [
        x509.DNSName("localhost"),
        x509.DNSName(hostname),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(
        key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
    )  # the key is for our eyes only
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
