"""The API description: `/api/openapi.json` (OpenAPI 3.1) and a small page rendering it for
people at `/api/openapi` (not `/api/docs`: the dashboard frontend uses that for OdhDocuments).

The page is plain HTML plus one script served from here (no CDN: it must work offline, and the
default Content-Security-Policy allows only same-origin scripts)."""
from __future__ import annotations

from ..openapi import document_for
from ..web import BaseHandler, allow_anonymous

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>odh-core API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#151515}
h1{font-size:1.5rem}h2{border-bottom:1px solid #ddd;margin-top:2rem;font-size:1.2rem}
details{border:1px solid #e0e0e0;border-radius:4px;margin:.35rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;white-space:pre-wrap}
.m{display:inline-block;min-width:4.5rem;font-weight:600;text-transform:uppercase}
.get{color:#06c}.post{color:#3e8635}.put,.patch{color:#b46300}.delete{color:#c9190b}
.badge{font-size:11px;border:1px solid #999;border-radius:3px;padding:0 .3rem;margin-left:.4rem}
#filter{width:100%;padding:.4rem;font-size:14px;box-sizing:border-box}
</style></head>
<body><h1>odh-core API</h1>
<p>The machine-readable document: <a href="openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>
<input id="filter" placeholder="filter by path, method or text" autofocus>
<div id="root">Loading…</div>
<script src="openapi.js"></script></body></html>
"""

SCRIPT = r"""
(function () {
  "use strict";
  var root = document.getElementById("root");
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function render(doc) {
    root.textContent = "";
    root.appendChild(el("p", {}, doc.info.description || ""));
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      var item = doc.paths[path];
      Object.keys(item).forEach(function (method) {
        if (method.indexOf("x-") === 0) return;
        var op = item[method], tag = (op.tags || ["other"])[0];
        (byTag[tag] = byTag[tag] || []).push([path, method, op]);
      });
    });
    (doc.tags || []).forEach(function (t) {
      var ops = byTag[t.name]; if (!ops) return;
      var section = el("section", {"data-tag": t.name});
      section.appendChild(el("h2", {}, t.name));
      if (t.description) section.appendChild(el("p", {}, t.description));
      ops.forEach(function (row) {
        var path = row[0], method = row[1], op = row[2];
        var d = el("details", {"data-search": (method + " " + path + " " +
                    (op.description || "")).toLowerCase()});
        var s = el("summary");
        s.appendChild(el("span", {"class": "m " + method}, op["x-websocket"] ? "ws" : method));
        s.appendChild(el("code", {}, path));
        s.appendChild(document.createTextNode("  " + (op.summary || "")));
        if (op["x-odh-anonymous"]) s.appendChild(el("span", {"class": "badge"}, "anonymous"));
        (op["x-odh-requires"] || []).forEach(function (r) {
          s.appendChild(el("span", {"class": "badge"}, r + " only"));
        });
        d.appendChild(s);
        if (op.description) d.appendChild(el("pre", {}, op.description));
        if (op.parameters) d.appendChild(el("pre", {}, "parameters: " +
            JSON.stringify(op.parameters, null, 2)));
        if (op.requestBody) d.appendChild(el("pre", {}, "request body: " +
            JSON.stringify(op.requestBody, null, 2)));
        d.appendChild(el("pre", {}, "responses: " + JSON.stringify(op.responses, null, 2)));
        section.appendChild(d);
      });
      root.appendChild(section);
    });
  }
  document.getElementById("filter").addEventListener("input", function (ev) {
    var q = ev.target.value.toLowerCase();
    document.querySelectorAll("details").forEach(function (d) {
      d.style.display = d.getAttribute("data-search").indexOf(q) >= 0 ? "" : "none";
    });
  });
  fetch("openapi.json", {credentials: "same-origin"}).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(render).catch(function (e) { root.textContent = "Could not load the document: " + e; });
})();
"""


class OpenApiHandler(BaseHandler):
    """The OpenAPI 3.1 document of this server: every route of the enabled plugins."""

    def get(self) -> None:
        self.write_json(document_for(self.odh))


@allow_anonymous
class OpenApiPageHandler(BaseHandler):
    """A page rendering the OpenAPI document for people (it fetches the document with the
    browser's own credentials)."""

    odh_anonymous_reason = "static HTML; the document itself needs an identity"

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(PAGE)


@allow_anonymous
class OpenApiScriptHandler(BaseHandler):
    """The page's script (same origin, so the default Content-Security-Policy allows it)."""

    odh_anonymous_reason = "static script of the API page; carries no data"

    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(SCRIPT)
