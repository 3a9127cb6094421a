"""A running `git flower web` for the web tests: a repository with a suite (merge_helpers), the
server as a real subprocess on 127.0.0.1, and plain HTTP requests against it (no cookie jar, no
redirects followed: each request carries exactly what the test gives it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import OUTER_PATH, flower, isolate
from merge_helpers import setup_repo

HOSTILE = "<script>alert(1)</script>"
URL = re.compile(r"(http://127\.0\.0\.1:(\d+)/\?token=(\S+))")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kw: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]


@dataclass
class Site:
    repo: Path
    base: str  # http://127.0.0.1:PORT
    token: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    csrf: str = field(default="")

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return flower(self.repo, *args, env=self.env, input=input)

    def cli_json(self, *args: str) -> object:
        r = self.cli(*args, "--json")
        assert r.returncode == 0, f"git flower {' '.join(args)}: {r.stderr}"
        return json.loads(r.stdout)["data"]

    def request(self, method: str, path: str, *, data: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with OPENER.open(req, timeout=60) as r:
                return Response(r.status, r.read().decode("utf-8", "replace"),
                                {k.lower(): v for k, v in r.headers.items()})
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode("utf-8", "replace"),
                            {k.lower(): v for k, v in e.headers.items()})

    def get(self, path: str, *, auth: bool = True) -> Response:
        return self.request("GET", path, headers={"Cookie": f"flower_session={self.token}"}
                            if auth else {})

    def post(self, path: str, data: dict[str, str] | None = None, *, cookie: bool = True,
             csrf: bool = True, htmx: bool = False,
             headers: dict[str, str] | None = None) -> Response:
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = f"flower_session={self.token}"
        if htmx:
            h["HX-Request"] = "true"
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf
        return self.request("POST", path, data=form, headers=h)

    def refs(self) -> str:
        from conftest import git

        return git(self.repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout


def start_web(repo: Path, env: dict[str, str], *args: str,
              log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`git flower web ARGS` in ``repo``; returns the process and the URL it printed."""
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "flowergit", "web", *args], cwd=repo, env=env,
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = URL.search(log.read_text(errors="replace"))
        if m:
            return proc, m[1]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"git flower web printed no URL: {log.read_text(errors='replace')}")


def serve_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A repository with a passing suite and a few briefs, served by `git flower web` (the
    body of each test module's ``site`` fixture)."""
    root = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root / "home", OUTER_PATH)
        env = dict(os.environ)
        repo = setup_repo(root)
    lines = [{"title": t, "body": b, "status": s, "kind": k} for t, b, s, k in [
        ("Active refs rail", "Show the refs that moved in the last hour.\n", "draft", "brief"),
        ("Retry a lost push", "When the remote drops the connection, retry.\n", "planned", "bug"),
        ("Group briefs by milestone", "An idea for later.\n", "draft", "idea"),
        ("Quieter merge log", "Say less when nothing happened.\n", "done", "brief"),
        ("Faster brief list", "Cache the parsed front matter.\n", "merged", "brief")]]
    r = flower(repo, "brief", "import", "-", env=env,
               input="".join(json.dumps(x) + "\n" for x in lines))
    assert r.returncode == 0, r.stderr
    log = root / "web.log"
    proc, url = start_web(repo, env, "--port", "0", log=log)
    m = URL.search(url)
    assert m is not None
    s = Site(repo, f"http://127.0.0.1:{m[2]}", m[3], env, proc, log)
    page = s.get("/")
    s.csrf = re.search(r'name="flower-csrf" content="([0-9a-f]+)"', page.body)[1]  # type: ignore[index]
    try:
        yield s
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def zombies(parent: int) -> list[int]:
    """The ended children of ``parent`` nobody has waited for."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[0] == b"Z" and int(fields[1]) == parent:
            out.append(int(name))
    return out
