"""HTTP front of the sandbox API server: routing, authn/authz, encodings, streaming."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import tornado.iostream
import tornado.web

from . import discovery, errors, openapi_pb, openshift, protobuf, reviews, tables
from .errors import KubeError, bad_request, status_body
from .ops import WriteOptions, success_status, with_version
from .rbac import ANONYMOUS, AUTHENTICATED, SA_PREFIX, UNAUTHENTICATED, Attributes, UserInfo
from .resources import ResourceType, VirtualRequest
from .validation import FieldValidation
from .watch import Watcher, WatchSpec, query_bool, serve

if TYPE_CHECKING:
    from .server import SandboxKubeServer

JSON_CT = "application/json"
# Paths kube-apiserver's bootstrap policy grants to everyone (system:public-info-viewer).
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
# Pod subresources a kubelet serves: streams into containers the sandbox does not run.
STREAM_SUBRESOURCES = ("exec", "attach", "portforward")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass
class Target:
    group: str
    version: str
    rt: ResourceType
    namespace: str          # "" for cluster scope / cluster-wide
    name: str
    subresource: str
    legacy_watch: bool


class KubeRequest(tornado.web.RequestHandler):
    """What every request to the sandbox API server starts with: who is asking (bearer token,
    impersonation) and which resource the path names. Plain HTTP and WebSocket handlers
    both build on it."""

    def initialize(self, server: SandboxKubeServer) -> None:
        self.srv = server

    def check_xsrf_cookie(self) -> None:  # API clients, not browsers
        return None

    def _arg(self, name: str) -> str | None:
        return self.get_query_argument(name, None)

    def _authenticate(self) -> UserInfo:
        auth = self.request.headers.get("Authorization", "")
        if not auth:
            return UserInfo(ANONYMOUS, (UNAUTHENTICATED,))
        scheme, _, token = auth.partition(" ")
        user = self.srv.authn.authenticate(token.strip()) if scheme.lower() == "bearer" \
            else None
        if user is None:
            raise KubeError(401, "Unauthorized", "Unauthorized")
        return reviews.whoami(user)

    def _impersonate(self, caller: UserInfo) -> UserInfo:
        h = self.request.headers
        target = h.get("Impersonate-User")
        groups = h.get_list("Impersonate-Group")
        uid = h.get("Impersonate-Uid", "")
        extras = {k[len("Impersonate-Extra-"):].lower(): h.get_list(k)
                  for k in h if k.lower().startswith("impersonate-extra-")}
        if not target and not groups and not uid and not extras:
            return caller
        if not target:
            raise bad_request(f"requested {groups} without impersonating a user")
        checks: list[tuple[Attributes, str, str]] = []
        if target.startswith(SA_PREFIX):
            ns, _, name = target[len(SA_PREFIX):].partition(":")
            checks.append((Attributes(caller, "impersonate", True, "", "serviceaccounts",
                                      namespace=ns, name=name), "serviceaccounts", name))
        else:
            checks.append((Attributes(caller, "impersonate", True, "", "users", name=target),
                           "users", target))
        for g in groups:
            checks.append((Attributes(caller, "impersonate", True, "", "groups", name=g),
                           "groups", g))
        if uid:
            checks.append((Attributes(caller, "impersonate", True, "authentication.k8s.io",
                                      "uids", name=uid), "uids", uid))
        for key, vals in extras.items():
            for v in vals:
                checks.append((Attributes(caller, "impersonate", True, "authentication.k8s.io",
                                          "userextras", subresource=key, name=v),
                               "userextras", v))
        for attrs, res, name in checks:
            if not self.srv.authz.authorize(attrs)[0]:
                raise KubeError(403, f'{res} "{name}" is forbidden: User "{caller.username}" '
                                     f'cannot impersonate resource "{res}" in API group '
                                     f'"{attrs.api_group}" at the cluster scope', "Forbidden",
                                {"name": name, "kind": res})
        all_groups = list(groups)
        if target.startswith(SA_PREFIX):
            ns = target[len(SA_PREFIX):].partition(":")[0]
            for g in ("system:serviceaccounts", f"system:serviceaccounts:{ns}"):
                if g not in all_groups:
                    all_groups.append(g)
        if target != ANONYMOUS and AUTHENTICATED not in all_groups:
            all_groups.append(AUTHENTICATED)
        return UserInfo(target, tuple(all_groups), uid,
                        tuple((k, tuple(v)) for k, v in extras.items()))

    def _authorize_path(self, user: UserInfo, path: str) -> None:
        ok, _ = self.srv.authz.authorize(Attributes(user, "get", False, path=path))
        if not ok:
            raise KubeError(403, f'forbidden: User "{user.username}" cannot get path '
                                 f'"{path}"', "Forbidden")

    def _parse_target(self, group: str, version: str, rest: list[str]) -> Target | None:
        legacy_watch = False
        if rest and rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
        if not rest:
            return None
        namespace = ""
        if rest[0] == "namespaces" and group == "" and len(rest) >= 3 and \
                not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        elif rest[0] == "namespaces" and group != "" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            return None
        rt = self.srv.store.registry.lookup(group, version, rest[0])
        if rt is None:
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in rt.subresources:
            return None
        if namespace and not rt.namespaced:
            return None
        if rt.namespaced and not namespace and name:
            return None
        return Target(group, version, rt, namespace, name, sub, legacy_watch)

    def _no_containers(self, user: UserInfo, t: Target) -> None:
        """exec, attach, port-forward: authorised as kube-apiserver authorises them (create on
        pods/<sub>, whatever the method: websocket upgrades are GETs), then a Status saying
        what is true: there is no container to stream from."""
        if not t.name:
            raise KubeError(405, "the server does not allow this method on the requested "
                                 "resource", "MethodNotAllowed")
        attrs = Attributes(user, "create", True, "", "pods", t.subresource, t.namespace,
                           t.name)
        if not self.srv.authz.authorize(attrs)[0]:
            raise errors.forbidden("pods", "", t.name, user.username, "create", t.namespace,
                                   t.subresource)
        self.srv.api.get(t.rt, t.namespace, t.name)  # 404 for a missing pod
        what = {"exec": "execute a command in", "attach": "attach to",
                "portforward": "forward ports to"}[t.subresource]
        raise KubeError(400, f'unable to {what} pod "{t.name}": the sandbox API server runs '
                             "no containers (no kubelet, no container runtime); pods are "
                             "API objects only", "BadRequest")


class KubeHandler(KubeRequest):
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, server: SandboxKubeServer) -> None:
        super().initialize(server)
        self._watcher: Watcher | None = None
        self._log_queue: asyncio.Queue[Any] | None = None

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-cache, private")
        self.clear_header("Server")

    # -- plumbing ------------------------------------------------------------------
    def _send(self, code: int, obj: Any, content_type: str = JSON_CT) -> None:
        self.set_status(code)
        if content_type == JSON_CT and code < 400 and self._prefers_protobuf() \
                and isinstance(obj, dict):
            try:
                encoded = protobuf.encode_object(obj)
            except (protobuf.ProtobufError, ValueError, TypeError):
                encoded = None  # a stored value protobuf cannot carry: JSON is acceptable too
            if encoded is not None:
                self.set_header("Content-Type", protobuf.PROTOBUF_CT)
                self.finish(encoded)
                return
        self.set_header("Content-Type", content_type)
        self.finish(_dumps(obj))

    def _prefers_protobuf(self) -> bool:
        """kubectl's typed clients ask `application/vnd.kubernetes.protobuf,application/json`:
        protobuf first, for the kinds there is a field table for; JSON for everything else."""
        first = self.request.headers.get("Accept", "").split(",")[0]
        return first.split(";")[0].strip().lower() == protobuf.PROTOBUF_CT

    def _send_status(self, e: KubeError) -> None:
        self._send(e.code, e.body)

    def _page_not_found(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish("404 page not found\n")

    def on_connection_close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        if self._log_queue is not None:
            self._log_queue.put_nowait(None)

    async def get(self, *_: str) -> None:
        await self._dispatch()

    post = put = patch = delete = get

    async def _dispatch(self) -> None:
        req = self.request
        self.srv.requests.record(req.method or "", req.path, req.query)
        delay, injected = self.srv.faults.match(req.method or "", req.path)
        if delay:
            await asyncio.sleep(delay)
        if injected is not None:
            self._send(injected.status, status_body(injected.status, injected.message,
                                                    injected.reason))
            return
        try:
            await self._route()
        except KubeError as e:
            if not self._finished:
                self._send_status(e)

    # -- routing -------------------------------------------------------------------
    async def _route(self) -> None:
        path = self.request.path
        method = self.request.method or "GET"
        if path.rstrip("/") in ("/healthz", "/livez", "/readyz") or \
                path.startswith(("/healthz/", "/livez/", "/readyz/")):
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("ok")
            return
        if path.rstrip("/") == "/version":
            self._send(200, self.srv.version_info())
            return
        user = self._impersonate(self._authenticate())
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "openapi" and method == "GET":
            self._authorize_path(user, path)
            await self._openapi(parts[1:])
            return
        if not parts or parts[0] not in ("api", "apis"):
            self._authorize_path(user, path)
            self._page_not_found()
            return
        reg = self.srv.store.registry
        accept = self.request.headers.get("Accept", "")
        if parts[0] == "api" and len(parts) <= 2 or parts[0] == "apis" and len(parts) <= 3:
            if method != "GET":
                raise KubeError(405, "the server does not allow this method on the requested "
                                     "resource", "MethodNotAllowed")
            self._authorize_path(user, path)
            self._discovery(parts, accept)
            return
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        if not reg.serves(group, version):
            self._page_not_found()
            return
        target = self._parse_target(group, version, rest)
        if target is None:
            self._page_not_found()
            return
        await self._resource(user, target, method, accept)

    async def _openapi(self, parts: list[str]) -> None:
        accept = self.request.headers.get("Accept", "").split(",")[0].split(";")[0]
        # Protobuf v2 is what kubectl's discovery client asks for (to validate kinds the v3
        # document does not know yet, e.g. a CR whose CRD is in the same manifest).
        protobuf_v2 = parts == ["v2"] and \
            accept.strip().lower() in openapi_pb.PROTOBUF_V2_ACCEPT
        api = self.srv.openapi
        key = api.document_key(parts, protobuf_v2)
        if key is None:
            self._page_not_found()
            return
        body = api.recall(key)
        if body is None:
            body = await asyncio.to_thread(api.snapshot().serialize, key)
            if key[0] != "v3index":  # the index is cheap, and its key does not change
                api.remember(key, body)
        self.set_header("Content-Type", openapi_pb.PROTOBUF_V2_CT if protobuf_v2 else JSON_CT)
        self.finish(body)

    def _discovery(self, parts: list[str], accept: str) -> None:
        reg = self.srv.store.registry
        if len(parts) == 1:
            if discovery.wants_aggregated(accept):
                self._send(200, discovery.aggregated(reg, parts[0] == "api"),
                           discovery.AGGREGATED_CT)
            elif parts[0] == "api":
                self._send(200, discovery.api_versions(self.srv.server_address))
            else:
                self._send(200, discovery.api_group_list(reg))
            return
        if parts[0] == "api":
            if parts[1] != "v1":
                self._page_not_found()
            else:
                self._send(200, discovery.resource_list(reg, "", "v1"))
            return
        if len(parts) == 2:
            doc = discovery.api_group(reg, parts[1])
            if doc is None:
                self._page_not_found()
            else:
                self._send(200, doc)
            return
        if not reg.serves(parts[1], parts[2]):
            self._page_not_found()
            return
        self._send(200, discovery.resource_list(reg, parts[1], parts[2]))


    # -- resources -----------------------------------------------------------------
    def _verb(self, t: Target, method: str) -> str:
        if method == "GET":
            if t.legacy_watch or query_bool(self._arg("watch")):
                return "watch"
            return "get" if t.name else "list"
        if method == "DELETE":
            return "delete" if t.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]

    def _body(self, t: Target) -> Any:
        raw = self.request.body or b""
        ctype = self.request.headers.get("Content-Type", JSON_CT).split(";")[0].strip().lower()
        if ctype == protobuf.PROTOBUF_CT:
            try:
                return protobuf.decode_object(raw)
            except protobuf.UnsupportedKind as e:
                raise KubeError(415, f"the body of the request was in an unknown format - "
                                     f"the sandbox decodes protobuf bodies of the built-in "
                                     f"kinds kubectl creates, not {e}; accepted media types "
                                     f"include: application/json, application/yaml",
                                "UnsupportedMediaType") from None
            except protobuf.ProtobufError as e:
                raise bad_request(f"unable to decode protobuf: {e}") from None
        if ctype in ("application/yaml", "application/x-yaml"):
            import yaml
            try:
                return yaml.safe_load(raw.decode() or "null")
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise bad_request(f"error decoding YAML: {e}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise bad_request(f"Object 'Kind' is missing in '{raw[:80]!r}': {e}") from None

    async def _resource(self, user: UserInfo, t: Target, method: str, accept: str) -> None:
        rt = t.rt
        if openshift.serves(rt):  # projects, project requests, users: views, not stored
            await openshift.OpenShiftApi(self, user, t).serve(method, accept)
            return
        verb = self._verb(t, method)
        if t.subresource in STREAM_SUBRESOURCES:
            self._no_containers(user, t)
            return
        if verb not in rt.verbs or (verb == "create" and t.name and t.subresource != "token"):
            if not (t.subresource and verb in ("get", "update", "patch", "create")):
                raise KubeError(405, "the server does not allow this method on the requested "
                                     "resource", "MethodNotAllowed")
        # A namespace is its own namespace for authorization (RoleBindings in it apply).
        authz_ns = t.name if rt.key == ("", "namespaces") and t.name else t.namespace
        attrs = Attributes(user, verb, True, rt.group, rt.plural, t.subresource, authz_ns,
                           t.name)
        if not self.srv.authz.authorize(attrs)[0]:
            raise errors.forbidden(rt.plural, rt.group, t.name or None, user.username, verb,
                                   authz_ns or None, t.subresource)
        api = self.srv.api
        dry_run = (self._arg("dryRun") or "") == "All"
        if self._arg("dryRun") not in (None, "", "All"):
            raise bad_request(f'Invalid dry run value: {self._arg("dryRun")}')
        args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        if rt.virtual:
            handler = self.srv.virtual.get(rt.key)
            if handler is None:
                raise KubeError(405, "the server does not allow this method on the requested "
                                     "resource", "MethodNotAllowed")
            body = self._body(t) if method in ("POST", "PUT", "PATCH") else None
            code, answer = handler.handle(VirtualRequest(verb, rt, user, t.namespace, t.name,
                                                         t.subresource, body, args))
            self._send(code, answer)
            return
        if verb == "watch":
            await self._watch(t, args, accept)
            return
        if t.subresource == "scale":
            opts = self._write_options(args)
            body = self._body(t) if verb == "update" else None
            self._send(200, api.scale(rt, t.namespace, t.name, t.version, verb,
                                      self.request.headers.get("Content-Type", ""),
                                      self.request.body or b"", body, dry_run, opts))
            return
        if t.subresource == "log":
            await self._logs(t, args)
            return
        if verb == "get":
            obj = with_version(api.get(rt, t.namespace, t.name), rt.api_version(t.version))
            if tables.wants_table(accept):
                obj = tables.to_table(rt, [obj], {"resourceVersion":
                                                  obj["metadata"].get("resourceVersion", "")},
                                      args.get("includeObject", "Metadata"))
            self._send(200, obj)
        elif verb == "list":
            listed = api.list(rt, t.namespace or None, t.version, args)
            if tables.wants_table(accept):
                listed = tables.to_table(rt, listed["items"], listed["metadata"],
                                         args.get("includeObject", "Metadata"))
            self._send(200, listed)
        elif verb == "create":
            body = self._body(t)
            if t.subresource == "token":
                self._send(201, self._token_request(t, body))
            else:
                opts = self._write_options(args)
                created = api.create(rt, t.namespace, t.version, body, dry_run, opts)
                self._warn(opts)
                self._send(201, created)
        elif verb == "update":
            opts = self._write_options(args)
            updated = api.replace(rt, t.namespace, t.name, t.version, self._body(t), dry_run,
                                  t.subresource, opts)
            self._warn(opts)
            self._send(200, updated)
        elif verb == "patch":
            opts = self._write_options(args)
            code, obj = api.patch(rt, t.namespace, t.name, t.version,
                                  self.request.headers.get("Content-Type", ""),
                                  self.request.body or b"", args, dry_run, t.subresource, opts)
            self._warn(opts)
            self._send(code, obj)
        elif verb == "delete":
            body = self._body(t) or {}
            if not isinstance(body, dict):
                raise bad_request("delete options must be an object")
            dry_run = dry_run or "All" in (body.get("dryRun") or [])
            obj = api.delete(rt, t.namespace, t.name, t.version, body, dry_run)
            pending = obj.get("kind") != "Status" and \
                self.srv.store.get(rt, t.namespace, t.name) is not None and not dry_run
            self._send(202 if pending else 200, obj)
        elif verb == "deletecollection":
            self._send(200, api.delete_collection(rt, t.namespace or None, t.version, args,
                                                  dry_run))

    def _write_options(self, args: dict[str, str]) -> WriteOptions:
        # Without ?fieldManager, kube-apiserver names the manager after the User-Agent's
        # first word ("kubectl", "OpenAPI-Generator", ...).
        agent = self.request.headers.get("User-Agent", "").split("/")[0].strip()
        return WriteOptions(manager=args.get("fieldManager") or agent or "unknown",
                            fv=FieldValidation.from_query(args.get("fieldValidation")))

    def _warn(self, opts: WriteOptions) -> None:
        for w in opts.fv.warnings:
            self.add_header("Warning", '299 - "' + w.replace('"', '\\"') + '"')

    def _token_request(self, t: Target, body: Any) -> dict[str, Any]:
        sa = self.srv.api.get(t.rt, t.namespace, t.name)
        spec = dict((body or {}).get("spec") or {})
        exp = int(spec.get("expirationSeconds") or 3600)
        spec["expirationSeconds"] = exp
        spec.setdefault("audiences", ["https://kubernetes.default.svc"])
        token = self.srv.authn.issue_sa_token(t.namespace, t.name, sa["metadata"]["uid"])
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + exp))
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": t.name, "namespace": t.namespace,
                             "creationTimestamp": None},
                "spec": spec, "status": {"token": token, "expirationTimestamp": expires}}

    # -- watch ---------------------------------------------------------------------
    async def _watch(self, t: Target, args: dict[str, str], accept: str,
                     make_watcher: Callable[..., Watcher] = Watcher) -> None:
        spec = WatchSpec.from_request(t.rt, t.version, t.name, args, accept)
        watcher = make_watcher(self.srv.store, t.rt, t.namespace or None, spec.pred,
                               self.request.path)
        too_old = watcher.start(spec.from_rv)
        self.set_status(200)
        self.set_header("Content-Type", JSON_CT)
        if too_old is not None:
            self.finish(_dumps(watcher.too_old_event(too_old)) + b"\n")
            return
        self._watcher = watcher

        async def send(lines: list[bytes]) -> None:
            self.write(b"".join(lines))
            await self.flush()
        await serve(watcher, spec, self.srv.watchers, self.srv.bookmark_interval, send,
                    tornado.iostream.StreamClosedError)
        self._watcher = None
        self._end_stream(watcher.abort)

    def _end_stream(self, abort: bool) -> None:
        """End a watch or log stream: cleanly, or, for a fault-injected cut, by dropping the
        TCP connection mid-stream with no chunk terminator."""
        if abort:
            self.request.connection.close()  # type: ignore[union-attr]
        if not self._finished:
            try:
                self.finish()
            except tornado.iostream.StreamClosedError:
                pass

    # -- logs ----------------------------------------------------------------------
    async def _logs(self, t: Target, args: dict[str, str]) -> None:
        pod = self.srv.api.get(t.rt, t.namespace, t.name)
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = args.get("container")
        if not container:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {t.name}, "
                                  f"choose one of: [{' '.join(str(n) for n in names)}]")
            container = names[0]
        elif container not in names:
            init = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
            if container not in init:
                raise bad_request(f"container {container} is not valid for pod {t.name}")
        stamps = query_bool(args.get("timestamps"))
        follow = query_bool(args.get("follow"))
        tail = args.get("tailLines")
        buf = self.srv.logs.buffer((t.namespace, t.name, container))
        lines = list(buf.lines)
        if tail is not None:
            try:
                n = int(tail)
            except ValueError:
                raise bad_request("tailLines must be an integer") from None
            lines = lines[-n:] if n > 0 else []
        if args.get("sinceSeconds"):
            cutoff = time.strftime("%Y-%m-%dT%H:%M:%S",
                                   time.gmtime(time.time() - float(args["sinceSeconds"])))
            lines = [ln for ln in lines if ln[0][:19] >= cutoff]

        def fmt(entry: tuple[str, str]) -> bytes:
            return ((f"{entry[0]} " if stamps else "") + entry[1] + "\n").encode()

        self.set_status(200)
        self.set_header("Content-Type", "text/plain")
        if not follow:
            self.finish(b"".join(fmt(e) for e in lines))
            return
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._log_queue = queue
        buf.followers.add(queue)
        follower = _LogFollower(queue, self.request.path)
        self.srv.log_followers.add(follower)
        try:
            self.write(b"".join(fmt(e) for e in lines))
            await self.flush()
            while True:
                entry = await queue.get()
                if entry is None:
                    break
                chunk = [fmt(entry)]
                while not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        queue.put_nowait(None)
                        break
                    chunk.append(fmt(nxt))
                self.write(b"".join(chunk))
                await self.flush()
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            buf.followers.discard(queue)
            self.srv.log_followers.discard(follower)
            self._log_queue = None
        self._end_stream(follower.abort)


class _LogFollower:
    def __init__(self, queue: asyncio.Queue[Any], path: str) -> None:
        self.queue = queue
        self.path = path
        self.abort = False

    def close(self, abort: bool = False) -> None:
        self.abort = abort
        self.queue.put_nowait(None)


__all__ = ["KubeHandler", "success_status"]
