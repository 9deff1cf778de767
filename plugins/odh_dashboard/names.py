"""Name checks done before a name reaches the API server (DNS-1123, as Kubernetes defines)."""
from __future__ import annotations

import re

from odh_core import ApiError

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
# A label key's name part (after an optional DNS-1123 prefix and "/"), as for toleration keys.
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def check_label(value: str, what: str = "name") -> str:
    """A namespace name (DNS-1123 label, at most 63 characters); 400 otherwise."""
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
        raise ApiError(400, f"invalid {what} {value!r}: must be a DNS-1123 label (lower-case "
                       "letters, digits and '-', starting and ending alphanumeric, at most 63)")
    return value


def check_subdomain(value: str, what: str = "name") -> str:
    """An object name (DNS-1123 subdomain, at most 253 characters); 400 otherwise."""
    if not isinstance(value, str) or len(value) > 253 or not DNS1123_SUBDOMAIN.match(value):
        raise ApiError(400, f"invalid {what} {value!r}: must be a DNS-1123 subdomain (lower-case "
                       "letters, digits, '-' and '.', at most 253)")
    return value


def is_qualified_name(value: str) -> bool:
    """A Kubernetes qualified name (label key / toleration key): [prefix/]name."""
    if not isinstance(value, str) or not value:
        return False
    prefix, _, name = value.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_QUALIFIED.match(name))


def is_system_namespace(name: str) -> bool:
    """The old backend's rule: `openshift*` and `kube*` namespaces are not the dashboard's."""
    return name.startswith("openshift") or name.startswith("kube")
