"""A loopback stand-in for the Hugging Face Hub, speaking what the real ``huggingface_hub`` client sends.

The endpoints and headers were read in huggingface_hub 2.4.0's own source (``file_download.py``,
``_snapshot_download.py``, ``hf_api.py``, ``_commit_api.py``, ``utils/_http.py``):

==========================================================  ================================================
``GET /api/models/{repo}[/revision/{rev}]``                 model info: ``id``, ``sha``, ``siblings``
``GET /api/models/{repo}/tree/{rev}[/{path}]``              recursive listing: ``oid``, ``size``, ``lfs``
``HEAD|GET /{repo}/resolve/{rev}/{file}``                   git file: 200 + ``X-Repo-Commit``, ``ETag``;
                                                            LFS file: 302 to the CDN + ``X-Linked-Etag``,
                                                            ``X-Linked-Size`` (the client reads the metadata
                                                            off the redirect because the CDN is another origin)
``HEAD|GET /blobs/{sha256}`` (CDN, a second port)           LFS content, ``Range``-aware
``POST /api/repos/create``                                  200 ``{"url"}``; 409 when it exists
``POST /api/models/{repo}/branch/{branch}``                 409 when it exists
``POST /api/models/{repo}/preupload/{rev}``                 every file ``"regular"`` (so no LFS upload step)
``POST /api/models/{repo}/commit/{rev}``                    NDJSON: header, base64 ``file``, ``deletedFile``
``POST /api/validate-yaml``                                 README front matter must parse
==========================================================  ================================================

Errors mirror the Hub: 404 with ``X-Error-Code`` ``RepoNotFound`` / ``RevisionNotFound`` / ``EntryNotFound``;
401 with ``RepoNotFound`` (private) or ``GatedRepo`` (gated) without the server's token; writes need the token.
Responses close the connection (HTTP/1.0) so that :meth:`FakeHub.stop` really makes the host unreachable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()


def git_oid(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a regular file's ``oid``/``ETag``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()


@dataclass
class Commit:
    oid: str
    files: dict[str, bytes]
    message: str


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    gated: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid

    def resolve(self, revision: str) -> Commit | None:
        """The commit a branch name or a full commit id points to."""
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)


class HubError(Exception):
    """An error answer: status, ``X-Error-Code``, message, extra headers."""

    def __init__(self, status: int, code: str | None, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, dict(headers or {})


class FakeHub:
    """Model repos held in memory, served on ``127.0.0.1`` (random port) with an LFS "CDN" on a second port.

    ``token`` is the only credential the server accepts (for private/gated reads and for every write).
    ``requests`` records ``(method, path)`` of every request, for asserting that nothing went out.
    """

    def __init__(self, token: str = "hf_fake_write_token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._hub = _Server(self, HUB_ROUTES)
        self._cdn = _Server(self, CDN_ROUTES)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> FakeHub:
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets: later connections are refused."""
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._threads:
            self.stop()

    # ---- repository content ------------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes] | Path,
        *,
        private: bool = False,
        gated: bool = False,
        message: str = "initial commit",
    ) -> str:
        """Create ``repo_id`` with ``files`` (a mapping, or every file of a folder) on ``main``; its commit id."""
        with self._lock:
            self.repos[repo_id] = Repo(repo_id, private=private, gated=gated)
            self._commit(self.repos[repo_id], "main", {".gitattributes": GITATTRIBUTES}, "initial commit")
        return self.commit(repo_id, files, message=message)

    def commit(
        self, repo_id: str, files: Mapping[str, bytes] | Path, *, branch: str = "main", message: str = "update"
    ) -> str:
        """Add or replace ``files`` on ``branch`` (created from ``main`` when new); the new commit id."""
        if isinstance(files, Path):
            files = {p.relative_to(files).as_posix(): p.read_bytes() for p in sorted(files.rglob("*")) if p.is_file()}
        with self._lock:
            repo = self.repos[repo_id]
            repo.branches.setdefault(branch, repo.branches["main"])
            return self._commit(repo, branch, dict(files), message)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        commit = self.repos[repo_id].resolve(revision)
        if commit is None:
            raise KeyError(f"{repo_id}@{revision}")
        return dict(commit.files)

    def _commit(
        self, repo: Repo, branch: str, added: dict[str, bytes], message: str, deleted: tuple[str, ...] = ()
    ) -> str:
        parent = repo.branches.get(branch, "")
        files = dict(repo.commits[parent].files) if parent else {}
        files = {
            p: d for p, d in files.items() if not any(p == x or p.startswith(x.rstrip("/") + "/") for x in deleted)
        }
        files.update(added)
        digest = hashlib.sha1(f"{parent}\n{message}\n".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{git_oid(files[path])}\n".encode())
        oid = digest.hexdigest()
        repo.commits[oid] = Commit(oid, files, message)
        repo.branches[branch] = oid
        return oid

    def _blob(self, sha256: str) -> bytes | None:
        for repo in self.repos.values():
            for commit in repo.commits.values():
                for path, data in commit.files.items():
                    if is_lfs(path) and hashlib.sha256(data).hexdigest() == sha256:
                        return data
        return None


# ---- HTTP plumbing --------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


Handler = Callable[[FakeHub, Request, dict[str, str]], Response]
REPO = r"(?P<repo>[^/]+/[^/]+)"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub, routes: list[tuple[str, re.Pattern[str], Handler]]) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.hub, self.routes = hub, routes


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:  # requests are recorded, not printed
        pass

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(p.split("=", 1) if "=" in p else (p, "") for p in url.query.split("&") if p)
        request = Request(self.command, url.path, params, self.headers, self.rfile.read(length) if length else b"")
        hub = self.server.hub
        hub.requests.append((self.command, self.path))
        try:
            response = self._route(hub, request)
        except HubError as err:
            response = Response.json({"error": err.message}, err.status, err.headers)
            if err.code:
                response.headers["X-Error-Code"] = err.code
            response.headers["X-Error-Message"] = err.message
        self.send_response(response.status)
        response.headers.setdefault("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _route(self, hub: FakeHub, request: Request) -> Response:
        for method, pattern, handler in self.server.routes:
            match = pattern.fullmatch(request.path)
            if match and request.method in (method, "HEAD" if method == "GET" else method):
                groups = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                with hub._lock:
                    return handler(hub, request, groups)
        raise HubError(404, None, f"no route for {request.method} {request.path}")


# ---- endpoints ------------------------------------------------------------------------------------------------


def _authorized(hub: FakeHub, request: Request) -> bool:
    return request.headers.get("Authorization") == f"Bearer {hub.token}"


def _readable_repo(hub: FakeHub, request: Request, repo_id: str) -> Repo:
    repo = hub.repos.get(repo_id)
    if repo is None or (repo.private and not _authorized(hub, request)):
        raise HubError(401 if repo else 404, "RepoNotFound", "Repository not found")
    if repo.gated and not _authorized(hub, request):
        raise HubError(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it.")
    return repo


def _writable_repo(hub: FakeHub, request: Request, repo_id: str) -> Repo:
    if not _authorized(hub, request):
        raise HubError(401, None, "Invalid credentials in Authorization header")
    repo = hub.repos.get(repo_id)
    if repo is None:
        raise HubError(404, "RepoNotFound", "Repository not found")
    return repo


def _commit_at(repo: Repo, revision: str) -> Commit:
    commit = repo.resolve(revision)
    if commit is None:
        raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
    return commit


def model_info(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _readable_repo(hub, request, g["repo"])
    commit = _commit_at(repo, g.get("rev", "main"))
    siblings = [{"rfilename": path} for path in sorted(commit.files)]
    info = {"id": repo.repo_id, "modelId": repo.repo_id, "sha": commit.oid, "private": repo.private}
    return Response.json({**info, "gated": "auto" if repo.gated else False, "siblings": siblings, "tags": []})


def tree(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _readable_repo(hub, request, g["repo"])
    commit = _commit_at(repo, g["rev"])
    prefix = g.get("path", "").strip("/")
    entries = []
    for path in sorted(p for p in commit.files if not prefix or p.startswith(prefix + "/")):
        data = commit.files[path]
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_oid(data)}
        if is_lfs(path):
            pointer = lfs_pointer(data)
            sha = hashlib.sha256(data).hexdigest()
            entry.update(oid=git_oid(pointer), lfs={"oid": sha, "size": len(data), "pointerSize": len(pointer)})
        entries.append(entry)
    return Response.json(entries)


def resolve(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _readable_repo(hub, request, g["repo"])
    commit = _commit_at(repo, g["rev"])
    headers = {"X-Repo-Commit": commit.oid}
    data = commit.files.get(g["path"])
    if data is None:
        raise HubError(404, "EntryNotFound", f"{g['path']} does not exist on {g['rev']}", headers)
    if is_lfs(g["path"]):
        sha = hashlib.sha256(data).hexdigest()
        headers.update({"Location": f"{hub.cdn_url}/blobs/{sha}", "X-Linked-Etag": f'"{sha}"'})
        return Response(302, b"", {**headers, "X-Linked-Size": str(len(data))})
    return _content(request, data, {**headers, "ETag": f'"{git_oid(data)}"'})


def cdn_blob(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    data = hub._blob(g["sha"])
    if data is None:
        raise HubError(404, None, "NoSuchKey")
    return _content(request, data, {"ETag": f'"{g["sha"]}"'})


def _content(request: Request, data: bytes, headers: dict[str, str]) -> Response:
    """``data`` whole (200) or the slice a ``Range: bytes=a-[b]`` header asks for (206)."""
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", **headers}
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
    if not match:
        return Response(200, data, headers)
    start, end = int(match[1]), int(match[2] or len(data) - 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return Response(206, data[start : end + 1], headers)


def create_repo(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    if not _authorized(hub, request):
        raise HubError(401, None, "Invalid credentials in Authorization header")
    payload = request.json()
    repo_id = f"{payload['organization']}/{payload['name']}"
    url = f"{hub.url}/{repo_id}"
    if repo_id in hub.repos:  # the Hub's 409 body still carries the url (create_repo(exist_ok=True) reads it)
        return Response.json({"error": "You already created this model repo", "url": url}, 409)
    hub.repos[repo_id] = Repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
    hub._commit(hub.repos[repo_id], "main", {".gitattributes": GITATTRIBUTES}, "initial commit")
    return Response.json({"url": url, "name": repo_id, "id": repo_id})


def create_branch(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _writable_repo(hub, request, g["repo"])
    if g["branch"] in repo.branches:
        raise HubError(409, None, f"Reference already exists: refs/heads/{g['branch']}")
    start = request.json().get("startingPoint", "main")
    repo.branches[g["branch"]] = _commit_at(repo, start).oid
    return Response.json({})


def preupload(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _writable_repo(hub, request, g["repo"])
    commit = _commit_at(repo, g["rev"])
    files = []
    for item in request.json()["files"]:
        existing = commit.files.get(item["path"])
        oid = git_oid(existing) if existing is not None else None
        files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
    return Response.json({"files": files, "commitOid": commit.oid})


def commit(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    repo = _writable_repo(hub, request, g["repo"])
    _commit_at(repo, g["rev"])
    if g["rev"] not in repo.branches:
        raise HubError(400, None, f"can only commit to a branch, not {g['rev']}")
    lines = [json.loads(line) for line in request.body.splitlines() if line.strip()]
    message, added, deleted = "", {}, []
    for line in lines:
        key, value = line["key"], line["value"]
        if key == "header":
            message = value["summary"]
        elif key == "file":
            added[value["path"]] = base64.b64decode(value["content"])
        elif key in ("deletedFile", "deletedFolder"):
            deleted.append(value["path"])
        else:
            raise HubError(422, None, f"unsupported commit operation {key!r} (this server only takes regular files)")
    oid = hub._commit(repo, g["rev"], added, message, tuple(deleted))
    return Response.json({"commitUrl": f"{hub.url}/{repo.repo_id}/commit/{oid}", "commitOid": oid, "success": True})


def validate_yaml(hub: FakeHub, request: Request, g: dict[str, str]) -> Response:
    content = request.json()["content"]
    match = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
    try:
        meta = yaml.safe_load(match[1]) if match else {}
    except yaml.YAMLError as err:
        return Response.json({"errors": [{"message": f"invalid YAML: {err}"}]}, 400)
    if not isinstance(meta, dict):
        return Response.json({"errors": [{"message": "metadata must be a mapping"}]}, 400)
    return Response.json({"errors": [], "warnings": []})


HUB_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", rf"/api/models/{REPO}(?:/revision/(?P<rev>[^/]+))?", model_info),
        ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", tree),
        ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve),
        ("POST", r"/api/repos/create", create_repo),
        ("POST", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", create_branch),
        ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", preupload),
        ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", commit),
        ("POST", r"/api/validate-yaml", validate_yaml),
    ]
]
CDN_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/blobs/(?P<sha>[0-9a-f]{64})"), cdn_blob)
]
