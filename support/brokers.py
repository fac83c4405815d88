"""Real mosquitto brokers for tests: plain, and TLS with password authentication.

Each broker listens on a free loopback port and can be stopped and restarted on
the same port (to test reconnection).  Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.sim.privatebroker import Mosquitto, find_mosquitto, free_port  # noqa: F401 (re-exported for tests)


def make_ca_and_server_cert(workdir: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = workdir / "ca.key", workdir / "ca.crt"
    srv_key, srv_csr, srv_crt = workdir / "server.key", workdir / "server.csr", workdir / "server.crt"
    ext = workdir / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*cmd):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
        "-days", "2", "-subj", "/CN=nightcramp test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(srv_key), "-out", str(srv_csr),
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", str(srv_csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(srv_crt), "-days", "2", "-extfile", str(ext))
    return {"ca": ca_crt, "cert": srv_crt, "key": srv_key}


def make_secure_broker(workdir: Path, username: str, password: str) -> Mosquitto:
    """A mosquitto with TLS (CA generated here) and one user with a password."""
    workdir = Path(workdir)
    certs = make_ca_and_server_cert(workdir / "certs")
    pwfile = workdir / "passwd"
    pwfile.write_text(f"{username}:{password}\n")
    pwfile.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(pwfile)], check=True, capture_output=True)
    extra = (f"cafile {certs['ca']}\ncertfile {certs['cert']}\nkeyfile {certs['key']}\n"
             f"password_file {pwfile}\n")
    broker = Mosquitto(workdir, extra_conf=extra, anonymous=False)
    broker.ca_file = certs["ca"]
    return broker
