"""The s3 plugin's section of the operator guide (rendered by `odh-core docs`)."""
from __future__ import annotations

WHO_REACHES_WHICH_BUCKET = """
Every ODH-TEC request (buckets, objects, uploads, downloads, imports) acts on exactly one
*S3 source*, chosen per user; nobody reaches S3 through another user's credentials.

| source id | what it is | who may use it | credentials read with |
|---|---|---|---|
| `shared` | the S3 configured in `plugins.s3` / `AWS_*` env / an admin's `PUT /api/settings/s3` | administrators and members of `plugins.s3.shared_groups` (default: nobody else) | odh-core's configuration |
| `user` | the caller's own S3 settings, saved by a non-admin's `PUT /api/settings/s3` | that user only | the service account, from the entry `<sha256(username)[:32]>` of the Secret `odh-core-user-settings-<first hex digit of that hash>` in odh-core's namespace (16 shards, named so RBAC can list them) |
| `conn:<namespace>/<name>` | a dashboard S3 connection (Secret labelled `opendatahub.io/dashboard: "true"`, annotated `opendatahub.io/connection-type-ref: s3` or `opendatahub.io/connection-type: s3`) | whoever the cluster lets `get` that Secret | **the caller's own token**: the cluster's RBAC decides; the service account never reads a project's Secret for a user |

- Which source a request uses: the `source` query parameter if given (any S3 route), else the
  caller's current source (`PUT /api/s3/source`, kept in their settings Secret, so every
  replica agrees), else their own settings if they saved some, else `shared` if they may use it.
  `GET /api/s3/sources` lists what the caller may use. With none, S3 routes answer 403
  `NoS3Source` saying what to do (save your own S3 settings, pick a project connection, or ask
  an administrator for shared access).
- A connection that names a bucket (`AWS_S3_BUCKET`) reaches that bucket only
  (`plugins.s3.scope_connections_to_bucket`): other bucket names answer 403 and the bucket list
  shows that one bucket. Bucket names are validated on every route (400).
- Endpoints users choose (their own settings, their connections) must match
  `plugins.s3.allowed_endpoints` (globs over `host[:port]`; default `*.amazonaws.com`, plus the
  shared endpoint's host): add your in-cluster object stores there. Anything else is refused, so
  a user cannot make odh-core fetch arbitrary URLs from inside the cluster. Proxy settings and
  proxy tests are admin-only for the same reason; user sources use the admin's proxy and CA.
- A connection read is reused for `plugins.s3.connection_ttl` seconds per (token, Secret):
  a deleted connection, a revoked permission or changed keys take effect within that time
  (changed keys get a new S3 client; the old one closes when its running transfers end).
  Where the caller may watch the Secret, a watch with their token (one per user and
  connection in use, at most 256, stopped after 5 idle minutes) makes changed keys and
  deleted connections take effect at once; revoked RBAC is still seen by the next re-read.
  The shared settings are watched (the service account needs `list`/`watch` on those two
  objects, as `contrib/deploy/base/rbac-s3.yaml` grants; without a watch they are re-read after
  `settings_ttl`); users' own settings are re-read per shard after `user_settings_ttl`, lazily,
  so an idle server makes no requests.
- S3 clients are pooled per distinct endpoint + credentials (`plugins.s3.max_clients`, least
  recently used closed first), so a user's source costs no extra round trip per request.
- Hugging Face: an import's hub token is the caller's own (`PUT /api/settings/huggingface` by
  a non-admin) or, for admins and `plugins.hf.shared_groups`, the shared one; `POST
  /api/settings/test-huggingface` tests the shared token for admins only.
- Per user: the disclaimer answer and `maxConcurrentTransfers` (at most the admin's maximum,
  `plugins.s3.max_concurrent_transfers`; all users together at most
  `plugins.s3.max_transfers_total` on one server).
"""
