"""Kubernetes protobuf bodies, decoded to (and encoded from) the JSON form the sandbox keeps.

kubectl's typed clients (`create namespace|configmap|deployment ...`, `auth can-i`) send
`application/vnd.kubernetes.protobuf`: the magic `k8s\\x00`, then a runtime.Unknown
{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType} whose raw
bytes are the object's message. Field numbers are the API's contract; they come from the
published generated.proto files through schemas/protobuf_fields.json (made by
schemas/gen_protobuf_table.py), never from guesswork. JSON stays the internal form.

The JSON mapping is the one go-to-protobuf and encoding/json agree on: a handful of types have
their own (Time, Duration, IntOrString, Quantity, RawExtension, FieldsV1), bytes are base64,
a zero scalar is left out where encoding/json leaves it out (a non-pointer `omitempty` Go
field: the table says which; a pointer's zero, e.g. `--replicas=0`, is kept), and an embedded
(`json:",inline"`) struct's fields are the parent's.
"""
from __future__ import annotations

import base64
import json
import re
import struct
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF_CT = "application/vnd.kubernetes.protobuf"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_TIME, _MICROTIME, _DURATION = _META + "Time", _META + "MicroTime", _META + "Duration"
_FIELDS_V1 = _META + "FieldsV1"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
_VARINT = {"bool", "int32", "int64", "uint32", "uint64", "sint32", "sint64"}


class ProtobufError(ValueError):
    pass


class UnsupportedKind(ProtobufError):
    """A well-formed envelope of a kind the sandbox has no field table for."""


class Table:
    """The field table: kinds ("apiVersion/kind" -> message) and messages' fields."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.kinds: dict[str, str] = data["kinds"]
        self.wrappers: set[str] = set(data["wrappers"])
        # message -> field number -> (json name, label, type, zero omitted from JSON)
        self.by_number: dict[str, dict[int, tuple[str, str, str, bool]]] = {
            msg: {f[0]: (f[1], f[2], f[3], bool(f[4])) for f in fields}
            for msg, fields in data["messages"].items()}

    def message_for(self, api_version: str, kind: str) -> str | None:
        return self.kinds.get(f"{api_version}/{kind}")


@lru_cache(maxsize=1)
def table() -> Table:
    text = resources.files(__package__).joinpath("schemas/protobuf_fields.json").read_text()
    return Table(json.loads(text))


# -- wire format -------------------------------------------------------------------------
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
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            if i + n > len(buf):
                raise ProtobufError("truncated field")
            val, i = buf[i:i + n], i + n
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        out.append((num, wt, val))
    return out


def _enc_varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers: ten-byte two's complement, as Go writes them
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num: int, wt: int) -> bytes:
    return _enc_varint((num << 3) | wt)


def _enc_bytes(num: int, data: bytes) -> bytes:
    return _key(num, 2) + _enc_varint(len(data)) + data


# The wire primitives other encoders (openapi_pb) build on.
enc_bytes = _enc_bytes


def enc_varint_field(num: int, n: int) -> bytes:
    return _key(num, 0) + _enc_varint(n)


def enc_double(num: int, v: float) -> bytes:
    return _key(num, 1) + struct.pack("<d", float(v))


# -- special types -------------------------------------------------------------------------
def _rfc3339(seconds: int, nanos: int, micro: bool) -> str | None:
    if not seconds and not nanos:
        return None
    t = datetime.fromtimestamp(seconds, timezone.utc)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rfc3339(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", value)
    if not m:
        raise ProtobufError(f"invalid time {value!r}")
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    seconds = int(t.timestamp())
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        seconds -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return seconds, int((m.group(2) or "0").ljust(9, "0"))


_UNITS = [("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6),
          ("us", 10**3), ("µs", 10**3), ("ns", 1)]


def go_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _frac(ns, size) + unit
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    out = f"{h}h{m}m" if h else (f"{m}m" if m else "")
    return sign + out + _frac(rest, 10**9) + "s"


def _frac(n: int, size: int) -> str:
    whole, part = divmod(n, size)
    if not part:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + str(part).rjust(digits, "0").rstrip("0")


def parse_go_duration(text: str) -> int:
    if text in ("0", ""):
        return 0
    m = re.fullmatch(r"([-+]?)((?:[0-9.]+(?:h|m|s|ms|us|µs|ns))+)", text)
    if not m:
        raise ProtobufError(f"invalid duration {text!r}")
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", m.group(2)):
        total += float(num) * dict(_UNITS)[unit]
    return int(-total if m.group(1) == "-" else total)


def _signed(v: int, bits: int) -> int:
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    if bits == 32:
        v = ((v + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)
    return v


# -- decoding ------------------------------------------------------------------------------
def _scalar(typ: str, wt: int, val: Any) -> Any:
    if typ == "string":
        try:
            return bytes(val).decode()
        except (UnicodeDecodeError, TypeError):
            raise ProtobufError("invalid UTF-8 in a string field") from None
    if typ == "bytes":
        return base64.b64encode(val).decode()
    if typ == "bool":
        return bool(val)
    if typ in ("int32", "sint32"):
        return _signed(val, 32)
    if typ in ("int64", "sint64"):
        return _signed(val, 64)
    if typ in ("uint32", "uint64"):
        return val
    if typ == "double":
        return struct.unpack("<d", val)[0]
    if typ == "float":
        return struct.unpack("<f", val)[0]
    raise ProtobufError(f"unsupported scalar type {typ}")


def _value(tbl: Table, typ: str, wt: int, val: Any) -> Any:
    if typ in tbl.by_number:
        if wt != 2:
            raise ProtobufError(f"wire type {wt} for message {typ}")
        return decode_message(tbl, typ, val)
    if (typ in _VARINT and wt != 0) or (typ in ("string", "bytes") and wt != 2):
        raise ProtobufError(f"wire type {wt} for {typ}")
    return _scalar(typ, wt, val)


def _zero(v: Any) -> bool:
    return v is not True and v in ("", 0, False)


def decode_message(tbl: Table, msg: str, buf: bytes) -> Any:
    """The JSON value of one message."""
    nums = tbl.by_number[msg]
    if msg in (_TIME, _MICROTIME):
        f = {n: v for n, _, v in fields(buf)}
        return _rfc3339(_signed(f.get(1, 0), 64), _signed(f.get(2, 0), 32), msg == _MICROTIME)
    if msg == _DURATION:
        f = {n: v for n, _, v in fields(buf)}
        return go_duration(_signed(f.get(1, 0), 64))
    if msg == _INT_OR_STRING:
        f = {n: v for n, _, v in fields(buf)}
        return bytes(f.get(3, b"")).decode() if f.get(1, 0) == 1 else _signed(f.get(2, 0), 32)
    if msg == _QUANTITY:
        f = {n: v for n, _, v in fields(buf)}
        return bytes(f.get(1, b"")).decode()
    if msg in (_RAW_EXTENSION, _FIELDS_V1):
        raw = next((bytes(v) for n, _, v in fields(buf) if n == 1), b"")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise ProtobufError(f"{msg.rsplit('.', 1)[-1]} is not JSON") from None
    out: dict[str, Any] = {}
    for num, wt, val in fields(buf):
        spec = nums.get(num)
        if spec is None:
            continue  # a newer field than the table knows: dropped, as a real decoder does
        name, label, typ, _ = spec
        if label == "m":
            ktyp, vtyp = typ.split(":", 1)
            entry = {n: (w, v) for n, w, v in fields(val)}
            k = _value(tbl, ktyp, *entry[1]) if 1 in entry else ""
            if 2 in entry:
                v = _value(tbl, vtyp, *entry[2])
            else:
                v = {} if vtyp in tbl.by_number else ("" if vtyp == "string" else 0)
            out.setdefault(name, {})[k] = v
        elif label == "r":
            items = out.setdefault(name, [])
            if wt == 2 and typ in _VARINT:  # packed
                i = 0
                while i < len(val):
                    n, i = _varint(val, i)
                    items.append(_scalar(typ, 0, n))
            else:
                items.append(_value(tbl, typ, wt, val))
        elif label == "i":
            inner = _value(tbl, typ, wt, val)  # an embedded struct: its fields are ours
            if isinstance(inner, dict):
                out.update(inner)
        else:
            out[name] = _value(tbl, typ, wt, val)
    for num, (name, label, typ, omit_zero) in nums.items():
        if omit_zero and label == "" and typ not in tbl.by_number and name in out \
                and _zero(out[name]):
            del out[name]  # omitempty
    if msg in tbl.wrappers:
        return out.get("items", [])
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object (envelope included); ProtobufError for
    anything malformed."""
    try:
        return _decode_object(body)
    except ProtobufError:
        raise
    except (ValueError, KeyError, TypeError, struct.error, RecursionError) as e:
        raise ProtobufError(f"malformed message: {type(e).__name__}") from None


def _decode_object(body: bytes) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    api_version = kind = ""
    raw = b""
    for num, _, val in fields(body[len(MAGIC):]):
        if num == 1:
            tm = {n: bytes(v).decode() for n, w, v in fields(val) if w == 2}
            api_version, kind = tm.get(1, ""), tm.get(2, "")
        elif num == 2:
            raw = bytes(val)
    tbl = table()
    msg = tbl.message_for(api_version, kind)
    if msg is None:
        raise UnsupportedKind(f"{kind} ({api_version or 'no apiVersion'})")
    obj = decode_message(tbl, msg, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}


# -- encoding ------------------------------------------------------------------------------
def _enc_scalar(num: int, typ: str, v: Any) -> bytes:
    if typ == "string":
        return _enc_bytes(num, str(v).encode())
    if typ == "bytes":
        return _enc_bytes(num, base64.b64decode(v))
    if typ in _VARINT:
        return _key(num, 0) + _enc_varint(int(v))
    if typ == "double":
        return _key(num, 1) + struct.pack("<d", float(v))
    if typ == "float":
        return _key(num, 5) + struct.pack("<f", float(v))
    raise ProtobufError(f"unsupported scalar type {typ}")


def _enc_value(tbl: Table, num: int, typ: str, v: Any) -> bytes:
    if typ in tbl.by_number:
        return _enc_bytes(num, encode_message(tbl, typ, v))
    return _enc_scalar(num, typ, v)


def encode_message(tbl: Table, msg: str, value: Any) -> bytes:
    if msg in (_TIME, _MICROTIME):
        if not value:
            return b""
        s, n = _parse_rfc3339(value)
        return (_key(1, 0) + _enc_varint(s) if s else b"") + \
            (_key(2, 0) + _enc_varint(n) if n else b"")
    if msg == _DURATION:
        ns = parse_go_duration(str(value))
        return _key(1, 0) + _enc_varint(ns) if ns else b""
    if msg == _INT_OR_STRING:
        if isinstance(value, str):
            return _key(1, 0) + _enc_varint(1) + _enc_bytes(3, value.encode())
        return _key(1, 0) + _enc_varint(0) + _key(2, 0) + _enc_varint(int(value))
    if msg == _QUANTITY:
        return _enc_bytes(1, str(value).encode())
    if msg in (_RAW_EXTENSION, _FIELDS_V1):
        if value is None:
            return b""
        return _enc_bytes(1, json.dumps(value, separators=(",", ":")).encode())
    if msg in tbl.wrappers:
        value = {"items": value}
    if not isinstance(value, dict):
        raise ProtobufError(f"{msg.rsplit('.', 1)[-1]} must be an object")
    out = bytearray()
    for num, (name, label, typ, _) in sorted(tbl.by_number[msg].items()):
        if label == "i":
            out += _enc_bytes(num, encode_message(tbl, typ, value))
            continue
        v = value.get(name)
        if v is None:
            continue
        if label == "m":
            ktyp, vtyp = typ.split(":", 1)
            for k in sorted(v):
                entry = _enc_value(tbl, 1, ktyp, k) + _enc_value(tbl, 2, vtyp, v[k])
                out += _enc_bytes(num, entry)
        elif label == "r":
            for item in v:
                out += _enc_value(tbl, num, typ, item)
        else:
            out += _enc_value(tbl, num, typ, v)
    return bytes(out)


def encode_object(obj: dict[str, Any]) -> bytes | None:
    """The protobuf envelope of a JSON object, or None when there is no table for its kind."""
    tbl = table()
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    msg = tbl.message_for(api_version, kind)
    if msg is None:
        return None
    tm = _enc_bytes(1, api_version.encode()) + _enc_bytes(2, kind.encode())
    return MAGIC + _enc_bytes(1, tm) + _enc_bytes(2, encode_message(tbl, msg, obj)) + \
        _enc_bytes(3, b"") + _enc_bytes(4, b"")
