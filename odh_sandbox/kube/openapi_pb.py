"""/openapi/v2 as kube-apiserver serves it to kubectl: gnostic's OpenAPIv2 protobuf.

kubectl asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and unmarshals
github.com/google/gnostic-models openapiv2.Document; field numbers below are that file's
(openapiv2/OpenAPIv2.proto). Extensions and defaults travel as YAML text (JSON is YAML).
Only what the sandbox's documents hold is encoded: info, paths, definitions.
"""
from __future__ import annotations

import json
from typing import Any

from .protobuf import enc_bytes, enc_double, enc_varint_field

# What clients ask for ("@" is kube-openapi's older spelling; Go's mime parser refuses it in a
# response, so the answer carries the dotted one, as kube-apiserver's does).
PROTOBUF_V2_ACCEPT = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                      "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
PROTOBUF_V2_CT = PROTOBUF_V2_ACCEPT[1]


def _s(num: int, v: Any) -> bytes:
    return enc_bytes(num, str(v).encode()) if v not in (None, "") else b""


def _any(num: int, v: Any) -> bytes:
    return enc_bytes(num, enc_bytes(2, json.dumps(v).encode()))  # Any{yaml = 2}


def _extensions(num: int, d: dict[str, Any]) -> bytes:
    return b"".join(enc_bytes(num, _s(1, k) + _any(2, v))  # NamedAny{name, value}
                    for k, v in d.items() if k.startswith("x-"))


def _named(num: int, name: str, value: bytes) -> bytes:
    return enc_bytes(num, _s(1, name) + enc_bytes(2, value))


def schema(d: dict[str, Any]) -> bytes:
    out = _s(1, d.get("$ref")) + _s(2, d.get("format")) + _s(3, d.get("title")) + \
        _s(4, d.get("description"))
    if "default" in d:
        out += _any(5, d["default"])
    for num, key in ((6, "multipleOf"), (7, "maximum"), (9, "minimum")):
        if key in d:
            out += enc_double(num, d[key])
    for num, key in ((8, "exclusiveMaximum"), (10, "exclusiveMinimum"), (16, "uniqueItems"),
                     (27, "readOnly")):
        if d.get(key):
            out += enc_varint_field(num, 1)
    for num, key in ((11, "maxLength"), (12, "minLength"), (14, "maxItems"), (15, "minItems"),
                     (17, "maxProperties"), (18, "minProperties")):
        if key in d:
            out += enc_varint_field(num, int(d[key]))
    out += _s(13, d.get("pattern"))
    out += b"".join(_s(19, r) for r in d.get("required") or [])
    out += b"".join(_any(20, e) for e in d.get("enum") or [])
    ap = d.get("additionalProperties")
    if isinstance(ap, dict):
        out += enc_bytes(21, enc_bytes(1, schema(ap)))
    elif isinstance(ap, bool):
        out += enc_bytes(21, enc_varint_field(2, int(ap)))
    if d.get("type"):
        types = d["type"] if isinstance(d["type"], list) else [d["type"]]
        out += enc_bytes(22, b"".join(_s(1, t) for t in types))
    items = d.get("items")
    if items is not None:
        items = items if isinstance(items, list) else [items]
        out += enc_bytes(23, b"".join(enc_bytes(1, schema(i)) for i in items))
    out += b"".join(enc_bytes(24, schema(s)) for s in d.get("allOf") or [])
    if d.get("properties"):
        out += enc_bytes(25, b"".join(_named(1, k, schema(v))
                                      for k, v in d["properties"].items()))
    if "example" in d:
        out += _any(30, d["example"])
    return out + _extensions(31, d)


def _parameter(p: dict[str, Any]) -> bytes:
    if p.get("in") == "body":
        body = _s(1, p.get("description")) + _s(2, p.get("name")) + _s(3, "body") + \
            (enc_varint_field(4, 1) if p.get("required") else b"") + \
            enc_bytes(5, schema(p.get("schema") or {}))
        param = enc_bytes(1, body)
    else:
        where = p.get("in")
        # QueryParameterSubSchema = 3, PathParameterSubSchema = 4 (type 6 vs 5, uniqueItems
        # 20 vs 19: the two messages number their fields differently).
        type_num, unique_num, which = (6, 20, 3) if where == "query" else (5, 19, 4)
        sub = (enc_varint_field(1, 1) if p.get("required") else b"") + _s(2, where) + \
            _s(3, p.get("description")) + _s(4, p.get("name")) + _s(type_num, p.get("type")) + \
            (enc_varint_field(unique_num, 1) if p.get("uniqueItems") else b"")
        param = enc_bytes(2, enc_bytes(which, sub))
    return enc_bytes(1, param)  # ParametersItem{parameter = 1}


def _operation(op: dict[str, Any]) -> bytes:
    out = b"".join(_s(1, t) for t in op.get("tags") or []) + _s(3, op.get("description")) + \
        _s(5, op.get("operationId"))
    out += b"".join(_s(6, c) for c in op.get("produces") or [])
    out += b"".join(_s(7, c) for c in op.get("consumes") or [])
    out += b"".join(enc_bytes(8, _parameter(p)) for p in op.get("parameters") or [])
    responses = b"".join(
        _named(1, code, enc_bytes(1, _s(1, r.get("description"))
                                  + (enc_bytes(2, enc_bytes(1, schema(r["schema"])))
                                     if r.get("schema") else b"")))
        for code, r in (op.get("responses") or {}).items())
    out += enc_bytes(9, responses)
    return out + _extensions(13, op)


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: dict[str, Any]) -> bytes:
    out = b"".join(enc_bytes(num, _operation(item[m])) for m, num in _METHODS.items()
                   if m in item)
    out += b"".join(enc_bytes(9, _parameter(p)) for p in item.get("parameters") or [])
    return out + _extensions(10, item)


def document(doc: dict[str, Any]) -> bytes:
    info = doc.get("info") or {}
    out = _s(1, doc.get("swagger", "2.0")) + enc_bytes(2, _s(1, info.get("title"))
                                                      + _s(2, info.get("version")))
    out += enc_bytes(8, b"".join(_named(2, p, _path_item(i))
                                 for p, i in (doc.get("paths") or {}).items()))
    out += enc_bytes(9, b"".join(_named(1, n, schema(s))
                                 for n, s in (doc.get("definitions") or {}).items()))
    return out
