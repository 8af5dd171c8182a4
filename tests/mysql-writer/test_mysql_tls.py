"""TLS options reach the server: a throwaway MariaDB with a certificate from a test CA."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from lab_core import Sample
from lab_mysql.errors import MySQLUnavailable
from lab_mysql.writer import MySQLWriter


def make_certificates(directory) -> dict:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make test certificates")

    def run(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lab test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (directory / "ext.cnf").write_text("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.pem")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=another CA",
        "-keyout", "other.key", "-out", "other.pem")
    return {name: str(directory / f"{name}.pem") for name in ("ca", "server", "other")} | {
        "server_key": str(directory / "server.key")}


def test_verified_tls_connection(throwaway_mariadb, tmp_path):
    certs = make_certificates(tmp_path)
    throwaway_mariadb.stop()
    throwaway_mariadb.start(f"--ssl-ca={certs['ca']}", f"--ssl-cert={certs['server']}",
                            f"--ssl-key={certs['server_key']}")
    try:
        settings = throwaway_mariadb.new_database("tls")
        writer = MySQLWriter(**settings, setup="tls", create_tables=True, register_codenames=True,
                             ssl_ca=certs["ca"], ssl_verify_cert=True, ssl_verify_identity=True)
        writer.open()
        writer.write([Sample("a", 1_700_000_000.0, 1.0)])
        with writer._connection().cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            assert cursor.fetchone()[1], "the connection is not encrypted"
        writer.close()

        plain = MySQLWriter(**settings, setup="tls")  # no TLS option: TLS since the server offers it
        plain.open()
        with plain._connection().cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            assert cursor.fetchone()[1], "the connection is not encrypted"
        plain.close()

        untrusted = MySQLWriter(**settings, setup="tls", ssl_ca=certs["other"], ssl_verify_cert=True,
                                connect_timeout=2)
        with pytest.raises(MySQLUnavailable, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            untrusted.open()
    finally:
        throwaway_mariadb.stop()
        throwaway_mariadb.start()
