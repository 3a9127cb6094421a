"""Shared by the sync, remote and hook tests: a bare remote served by `git daemon` on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import flower, git


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """Serve every repository under ``base`` read-write on 127.0.0.1; yields the URL prefix."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
         f"--base-path={base}", "--export-all", "--enable=receive-pack", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"git://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = subprocess.run(["git", "ls-remote", f"{url}/none.git"], capture_output=True,
                                   timeout=5)
            if b"not exported" in probe.stderr or b"does not appear" in probe.stderr \
                    or probe.returncode == 0 or b"remote error" in probe.stderr:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("git daemon did not start")
            time.sleep(0.05)
        yield url
    finally:
        stop_server(proc)


def served_remote(tmp_path: Path, seed: Path) -> Path:
    """A bare copy of ``seed`` (with flower/briefs) under tmp_path/srv/proj.git."""
    srv = tmp_path / "srv"
    srv.mkdir()
    bare = srv / "proj.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    git(seed, "push", "-q", str(bare), "refs/heads/flower/briefs:refs/heads/flower/briefs")
    return bare


def clone(tmp_path: Path, url: str, name: str, *, init: bool = True) -> Path:
    dest = tmp_path / name
    git(tmp_path, "clone", "-q", url, str(dest))
    if init:
        r = flower(dest, "init", "--remote", "origin")
        assert r.returncode == 0, r.stderr
    return dest


def remote_refs(bare: Path, prefix: str = "refs/") -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
    pairs = [line.split(" ", 1) for line in out.splitlines() if line]
    return {name: oid for name, oid in pairs}



@contextmanager
def smart_http(base: Path) -> Iterator[str]:
    """Serve every repository under ``base`` read-write over git's smart HTTP protocol: a
    threaded HTTP server on 127.0.0.1 that runs `git http-backend` as CGI for each request
    (pushes enabled with http.receivepack). Yields the URL prefix."""
    import os
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    exe = os.path.join(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                      check=True).stdout.strip(), "git-http-backend")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            path, _, query = self.path.partition("?")
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            env.update(GIT_PROJECT_ROOT=str(base), GIT_HTTP_EXPORT_ALL="1",
                       GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.receivepack",
                       GIT_CONFIG_VALUE_0="true", REQUEST_METHOD=self.command,
                       PATH_INFO=path, QUERY_STRING=query, REMOTE_ADDR="127.0.0.1",
                       REMOTE_USER="flower-test",
                       CONTENT_TYPE=self.headers.get("content-type") or "",
                       CONTENT_LENGTH=str(len(body)),
                       HTTP_CONTENT_ENCODING=self.headers.get("content-encoding") or "",
                       HTTP_GIT_PROTOCOL=self.headers.get("git-protocol") or "")
            r = subprocess.run([exe], input=body, env=env, capture_output=True, timeout=60)
            head, _, payload = r.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode("latin-1").split("\r\n"):
                k, _, v = line.partition(":")
                if k.lower() == "status":
                    status = int(v.strip().split()[0])
                elif k:
                    headers.append((k, v.strip()))
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def sshd_path() -> str | None:
    import shutil

    return shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd",) if Path(p).exists()), None)


@contextmanager
def ssh_server(tmp: Path, home: Path) -> Iterator[tuple[str, str]]:
    """An sshd on 127.0.0.1 (a free port, its own host key and config) that lets this user in
    with a key made for the test. Yields the URL prefix ``ssh://USER@127.0.0.1:PORT`` and the
    ``GIT_SSH_COMMAND`` that uses the test's ssh config (ssh reads ``~/.ssh`` from the password
    database, not from ``$HOME``)."""
    import getpass
    import os

    sshd = sshd_path()
    assert sshd is not None, "sshd is not installed (.ci/run installs openssh-server)"
    d = tmp / "sshd"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")],
                   check=True)
    (d / "authorized_keys").write_text((ssh / "id_ed25519.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nPidFile {d / 'pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        f"AllowUsers {getpass.getuser()}\nPermitUserEnvironment no\nLogLevel ERROR\n"
        "AcceptEnv GIT_PROTOCOL\n")
    known = f"[127.0.0.1]:{port} " + (d / "host.pub").read_text().split(" ", 2)[0] + " " + \
        (d / "host.pub").read_text().split(" ", 2)[1]
    (ssh / "known_hosts").write_text(known + "\n")
    (ssh / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {ssh / 'id_ed25519'}\n"
                                f"  UserKnownHostsFile {ssh / 'known_hosts'}\n"
                                "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                    raise RuntimeError(f"sshd did not start: {err}") from None
                time.sleep(0.05)
        yield f"ssh://{getpass.getuser()}@127.0.0.1:{port}", f"ssh -F {ssh / 'config'}"
    finally:
        stop_server(proc)
