"""The protobuf codec as pure functions: the special types and round trips."""
from __future__ import annotations

import pytest

from odh_sandbox.kube import protobuf

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "d", "namespace": "n", "labels": {"app": "d"},
                 "creationTimestamp": "2025-01-02T03:04:05Z",
                 "managedFields": [{"manager": "kubectl", "operation": "Apply",
                                    "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                                    "time": "2025-01-02T03:04:05Z",
                                    "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d"}},
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
             "progressDeadlineSeconds": 600,
             "template": {"metadata": {"labels": {"app": "d"}},
                          "spec": {"containers": [{
                              "name": "c", "image": "nginx", "args": ["-v", ""],
                              "ports": [{"containerPort": 80, "protocol": "TCP"}],
                              "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}],
                                   "volumes": [{"name": "v", "configMap": {"name": "cm"}}],
                                   "terminationGracePeriodSeconds": -1}}},
    "status": {},
}


def test_a_deployment_round_trips() -> None:
    body = protobuf.encode_object(DEPLOYMENT)
    assert body is not None and body.startswith(protobuf.MAGIC)
    back = protobuf.decode_object(body)
    # `replicas: 0` is a pointer's zero (`--replicas=0`): kept, as encoding/json keeps it.
    assert back == DEPLOYMENT
    # A non-pointer omitempty zero (minReadySeconds) is left out, as encoding/json does.
    zero = dict(DEPLOYMENT, spec=dict(DEPLOYMENT["spec"], minReadySeconds=0))
    assert protobuf.decode_object(protobuf.encode_object(zero) or b"") == DEPLOYMENT


@pytest.mark.parametrize("ns,text", [(0, "0s"), (1, "1ns"), (1500, "1.5µs"),
                                     (2_000_000, "2ms"), (90 * 10**9, "1m30s"),
                                     (3600 * 10**9, "1h0m0s"), (-(10**9 + 5 * 10**8), "-1.5s")])
def test_durations_are_gos(ns: int, text: str) -> None:
    assert protobuf.go_duration(ns) == text
    assert protobuf.parse_go_duration(text) == ns


def test_unknown_kinds_and_bad_bytes_are_refused() -> None:
    with pytest.raises(protobuf.UnsupportedKind):
        protobuf.decode_object(protobuf.MAGIC + protobuf._enc_bytes(
            1, protobuf._enc_bytes(1, b"example.com/v1") + protobuf._enc_bytes(2, b"Thing")))
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode_object(b"{}")
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode_object(protobuf.MAGIC + b"\x0a\x05ab")   # truncated
    assert protobuf.encode_object({"apiVersion": "example.com/v1", "kind": "Thing"}) is None


def test_inline_structs_are_the_parents_fields() -> None:
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "i"},
           "spec": {"rules": [{"host": "h", "http": {"paths": [{
               "path": "/", "pathType": "Prefix", "backend": {"service": {
                   "name": "s", "port": {"number": 80}}}}]}}]}, "status": {"loadBalancer": {}}}
    body = protobuf.encode_object(ing)
    assert body is not None
    assert protobuf.decode_object(body) == ing


def test_values_protobuf_cannot_carry_are_refused_not_mangled() -> None:
    bad = dict(DEPLOYMENT, metadata=dict(DEPLOYMENT["metadata"], creationTimestamp="yesterday"))
    with pytest.raises(protobuf.ProtobufError):
        protobuf.encode_object(bad)


def test_malformed_bodies_are_protobuf_errors() -> None:
    tm = protobuf._enc_bytes(1, b"v1") + protobuf._enc_bytes(2, b"ConfigMap")
    for raw in (protobuf._enc_bytes(1, b"\xff\xfe"),                   # name: not UTF-8
                protobuf._enc_bytes(1, protobuf._enc_bytes(1, b"\xff")),  # metadata.name
                b"\x0a\x01",                                           # truncated
                protobuf._key(1, 0) + b"\x01"):                        # metadata as a varint
        with pytest.raises(protobuf.ProtobufError):
            protobuf.decode_object(protobuf.MAGIC + protobuf._enc_bytes(1, tm)
                                   + protobuf._enc_bytes(2, raw))
