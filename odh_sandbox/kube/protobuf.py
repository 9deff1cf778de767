"""Just enough Kubernetes protobuf to read the access reviews kubectl sends that way.

kubectl 1.32's `auth can-i` POSTs a SelfSubjectAccessReview as
`application/vnd.kubernetes.protobuf`: the magic `k8s\\x00`, then a runtime.Unknown
{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType} whose raw
bytes are the review message. We turn it into the equivalent JSON dict and answer in JSON,
which kubectl accepts.
"""
from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF_CT = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field; bytes for length-delimited."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtobufError("truncated field")
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        out.append((num, wt, val))
    return out


def _strings(buf: bytes, names: dict[int, str]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for num, wt, val in fields(buf):
        if num in names and wt == 2:
            d[names[num]] = val.decode()
    return d


_RESOURCE_ATTRS = {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource",
                   6: "subresource", 7: "name"}
_NONRESOURCE_ATTRS = {1: "path", 2: "verb"}


def _review_spec(buf: bytes, kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if kind in ("SelfSubjectAccessReview",):
        for num, _, val in fields(buf):
            if num == 1:
                spec["resourceAttributes"] = _strings(val, _RESOURCE_ATTRS)
            elif num == 2:
                spec["nonResourceAttributes"] = _strings(val, _NONRESOURCE_ATTRS)
    elif kind == "SelfSubjectRulesReview":
        spec = _strings(buf, {1: "namespace"})
    elif kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        for num, _, val in fields(buf):
            if num == 1:
                spec["resourceAttributes"] = _strings(val, _RESOURCE_ATTRS)
            elif num == 2:
                spec["nonResourceAttributes"] = _strings(val, _NONRESOURCE_ATTRS)
            elif num == 3:
                spec["user"] = val.decode()
            elif num == 4:
                spec.setdefault("groups", []).append(val.decode())
            elif num == 6:
                spec["uid"] = val.decode()
    elif kind == "SelfSubjectReview":
        spec = {}
    elif kind == "TokenReview":
        for num, _, val in fields(buf):
            if num == 1:
                spec["token"] = val.decode()
            elif num == 2:
                spec.setdefault("audiences", []).append(val.decode())
    return spec


def decode_review(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded review object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    api_version = kind = ""
    raw = b""
    for num, _, val in fields(body[len(MAGIC):]):
        if num == 1:
            tm = _strings(val, {1: "apiVersion", 2: "kind"})
            api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
        elif num == 2:
            raw = val
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for num, _, val in fields(raw):
        if num == 1:
            meta = _strings(val, {1: "name", 2: "generateName", 3: "namespace"})
            obj["metadata"] = meta
        elif num == 2:
            obj["spec"] = _review_spec(val, kind)
    obj.setdefault("spec", {})
    return obj


# -- encoding, for tests (what kubectl sends) ----------------------------------------


def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_bytes(num: int, data: bytes) -> bytes:
    return _enc_varint((num << 3) | 2) + _enc_varint(len(data)) + data


def encode_ssar(resource_attributes: dict[str, str] | None = None,
                non_resource_attributes: dict[str, str] | None = None) -> bytes:
    spec = b""
    if resource_attributes is not None:
        rev = {v: k for k, v in _RESOURCE_ATTRS.items()}
        ra = b"".join(_enc_bytes(rev[k], v.encode()) for k, v in resource_attributes.items())
        spec += _enc_bytes(1, ra)
    if non_resource_attributes is not None:
        rev = {v: k for k, v in _NONRESOURCE_ATTRS.items()}
        na = b"".join(_enc_bytes(rev[k], v.encode())
                      for k, v in non_resource_attributes.items())
        spec += _enc_bytes(2, na)
    review = _enc_bytes(1, b"") + _enc_bytes(2, spec) + _enc_bytes(3, b"")
    tm = _enc_bytes(1, b"authorization.k8s.io/v1") + _enc_bytes(2, b"SelfSubjectAccessReview")
    return MAGIC + _enc_bytes(1, tm) + _enc_bytes(2, review) + _enc_bytes(3, b"") + \
        _enc_bytes(4, b"")
