"""Field validation on write, as kube-apiserver does it.

Unknown fields are dropped (a built-in's Go struct has nowhere to put them; a CRD's structural
schema prunes them unless `x-kubernetes-preserve-unknown-fields`), and the `fieldValidation`
query parameter says what the client hears of it: `Strict` refuses the write (400, "strict
decoding error"), `Warn` (the default) answers `Warning` headers, `Ignore` nothing. Custom
resources are also checked against their schema's types, enums and required fields (422).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import KubeError, bad_request, invalid

MODES = ("Ignore", "Warn", "Strict")
V2_REF = "#/definitions/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass
class FieldValidation:
    """The request's directive, and the warnings it collected for the response."""
    mode: str = "Warn"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, value: str | None) -> FieldValidation:
        if not value:
            return cls()
        if value not in MODES:
            raise bad_request(f'fieldValidation: Unsupported value: "{value}": supported '
                              f'values: "Ignore", "Strict", "Warn"')
        return cls(value)


class _Walker:
    def __init__(self, defs: dict[str, Any], structural: bool) -> None:
        self.defs = defs
        self.structural = structural  # a CRD's schema: objects without properties prune all
        self.check = True  # types, enums, required fields
        self.unknown: list[str] = []
        self.causes: list[tuple[str, str, str]] = []

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(32):
            ref = schema.get("$ref")
            if isinstance(ref, str) and ref.startswith(V2_REF):
                schema = {**self.defs.get(ref[len(V2_REF):], {}),
                          **{k: v for k, v in schema.items() if k != "$ref"}}
                continue
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
                schema = {**self.resolve(all_of[0]),
                          **{k: v for k, v in schema.items() if k != "allOf"}}
                continue
            return schema
        return schema

    def walk(self, schema: dict[str, Any], value: Any, path: str, root: bool = False) -> Any:
        """The value with unknown fields pruned; records unknown fields and type errors."""
        ref = schema.get("$ref")
        if self.structural and isinstance(ref, str) and ref.startswith(V2_REF + "io.k8s."):
            # A built-in type inside a custom resource (its metadata): built-in rules there.
            inner = _Walker(self.defs, structural=False)
            out = inner.walk(schema, value, path)
            self.unknown += inner.unknown
            return out
        schema = self.resolve(schema)
        if value is None:
            return None
        if self.structural and self.check:
            self._check_type(schema, value, path)
        if isinstance(value, dict):
            return self._object(schema, value, path, root)
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self.walk(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def _object(self, schema: dict[str, Any], value: dict[str, Any], path: str,
                root: bool) -> dict[str, Any]:
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else k
            sub_schema = props[k] if isinstance(props, dict) and k in props else \
                addl if isinstance(addl, dict) else None
            if sub_schema is None and embedded and k == "metadata":
                sub_schema = {"$ref": V2_REF + OBJECT_META}  # an embedded object's metadata
            if sub_schema is not None:
                if v is None and self.structural and \
                        not self.resolve(sub_schema).get("nullable"):
                    continue  # a null where the schema is not nullable is pruned
                v = self.walk(sub_schema, v, sub)
            elif (root or embedded) and k in ("apiVersion", "kind"):
                pass
            elif addl is True or preserve or (props is None and not self.structural):
                pass
            else:
                self.unknown.append(sub)
                continue
            out[k] = v
        if self.structural and self.check:
            for req in schema.get("required") or []:
                if req not in out:
                    sub = f"{path}.{req}" if path else req
                    self.causes.append((sub, "FieldValueRequired", "Required value"))
        return out

    def _check_type(self, schema: dict[str, Any], value: Any, path: str) -> None:
        typ = schema.get("type")
        ok = True
        if schema.get("x-kubernetes-int-or-string"):
            ok = isinstance(value, (int, str)) and not isinstance(value, bool)
            typ = "integer or string"
        elif typ == "object":
            ok = isinstance(value, dict)
        elif typ == "array":
            ok = isinstance(value, list)
        elif typ == "string":
            ok = isinstance(value, str)
        elif typ == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool) or \
                isinstance(value, float) and value.is_integer()
        elif typ == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif typ == "boolean":
            ok = isinstance(value, bool)
        if not ok:
            shown = _go_type(value)
            self.causes.append((path, "FieldValueTypeInvalid",
                                f'Invalid value: "{shown}": {path} in body must be of type '
                                f'{typ}: "{shown}"'))
            return
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            allowed = ", ".join(f'"{e}"' for e in enum)
            self.causes.append((path, "FieldValueNotSupported",
                                f'Unsupported value: "{value}": supported values: {allowed}'))


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number" if isinstance(value, float) else "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate(obj: dict[str, Any], schema_name: str, defs: dict[str, Any], structural: bool,
             fv: FieldValidation, kind: str, group: str, partial: bool = False
             ) -> dict[str, Any]:
    """The object pruned of unknown fields; raises for Strict or schema violations.
    `partial`: an apply configuration, whose types and required fields are checked once
    merged, not before."""
    walker = _Walker(defs, structural)
    walker.check = not partial
    pruned = walker.walk({"$ref": V2_REF + schema_name}, obj, "", root=True)
    name = (obj.get("metadata") or {}).get("name", "")
    if walker.unknown:
        if fv.mode == "Strict":
            listed = ", ".join(f'unknown field "{u}"' for u in walker.unknown)
            raise KubeError(400, f"strict decoding error: {listed}", "BadRequest")
        if fv.mode == "Warn":
            fv.warnings.extend(f'unknown field "{u}"' for u in walker.unknown)
    if walker.causes:
        raise invalid(kind, group, name, walker.causes)
    return pruned
