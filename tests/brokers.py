"""Real mosquitto brokers for tests: plain, and TLS with password authentication.

Each broker listens on a free loopback port and can be stopped and restarted on
the same port (to test reconnection).  Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def find_mosquitto() -> str | None:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """One mosquitto process with its own config in ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "", anonymous: bool = True):
        self.binary = find_mosquitto()
        if self.binary is None:
            raise RuntimeError("mosquitto is not installed: sudo apt-get install mosquitto")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            "persistence false\n"
            # As root, mosquitto drops to the `mosquitto` user and then cannot read the
            # test's password file and keys (mode 0600) nor write a persistence directory.
            f"{'user root' if os.geteuid() == 0 else ''}\n"
            f"{extra_conf}\n"
        )
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "Mosquitto":
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


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
