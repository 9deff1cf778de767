"""ODH-TEC's stock frontend on odh-core, driven in Chromium as a user would (issue 17).

One odh-core for the whole module: `odh-core serve --sandbox --dev` with nothing configured but
`plugins.s3.static_dir` (dev auth: every request acts as `admin`), so the embedded moto S3 and
the sandbox Hugging Face hub back it. The UI is opened on its own host name (tec.localhost,
loopback in Chromium). What each flow checks is what the page shows (rows, names, progress,
notifications) and what S3 then holds (read back with boto3 from the sandbox's S3 endpoint,
which the settings route names), plus no response >= 400 the flow did not expect, no page
error and no console error.

The file preview loads the Monaco editor from cdn.jsdelivr.net, which this machine cannot
reach. The page's real CSP still decides whether the browser may request it (a blocked load
never reaches the network): the test intercepts requests to that CDN path in the browser and
answers them from a local copy of the same monaco-editor 0.43.0 package (npm's tarball, checked
against its published integrity, cached under ~/.cache/odh-core-e2e; `ODH_MONACO_DIR` points
elsewhere). So the preview is checked
end to end: CSP, the view route's bytes, and the text shown in the editor.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .conftest import TEC_DIR, OdhProcess, PageWatch

HOST = "tec.localhost"
BUCKET = "odh-sandbox"  # the sandbox S3's bucket
MONACO_VERSION = "0.43.0"
MONACO_CDN = f"https://cdn.jsdelivr.net/npm/monaco-editor@{MONACO_VERSION}/min/vs/"
MiB = 2**20

pytestmark = pytest.mark.timeout(300)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- the module's server, S3 behind it, the monaco package ----------------------------------------
@pytest.fixture(scope="module")
def tec(odh_process: Callable[..., OdhProcess]) -> OdhProcess:
    return odh_process({"plugins": {"s3": {"static_dir": str(TEC_DIR)}}}, dev=True)


@pytest.fixture(scope="module")
def s3(tec: OdhProcess) -> Any:
    """boto3 on the sandbox S3 the server uses (its endpoint, as the settings route shows it;
    moto takes any credentials)."""
    import boto3
    from botocore.config import Config

    status, body = tec.api("/api/settings/s3")
    assert status == 200, body
    settings = body["settings"]
    return boto3.client("s3", endpoint_url=settings["endpoint"], region_name="us-east-1",
                        aws_access_key_id=settings["accessKeyId"], aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 2}))


# npm's published integrity of monaco-editor-0.43.0.tgz: whatever fetched it, the bytes must
# be these.
MONACO_INTEGRITY = ("sha512-cnoqwQi/9fml2Szamv1XbSJieGJ1Dc8tENVMD26Kcfl7xGQWp7OBKMjlwKVGYFJ3/"
                    "AXJjSOGvcqK7Ry/j9BM1Q==")
MONACO_TARBALL = f"https://registry.npmjs.org/monaco-editor/-/monaco-editor-{MONACO_VERSION}.tgz"


def fetch_monaco_tarball(work: Path) -> Path | None:
    """The package tarball from the npm registry: with npm when installed, else by its
    registry URL (CI images without Node); None when neither works."""
    npm = shutil.which("npm")
    try:
        if npm is not None:
            subprocess.run([npm, "pack", f"monaco-editor@{MONACO_VERSION}", "--silent"],
                           cwd=work, check=True, timeout=180, capture_output=True)
            return next(work.glob("monaco-editor-*.tgz"))
        import urllib.request

        tgz = work / f"monaco-editor-{MONACO_VERSION}.tgz"
        with urllib.request.urlopen(MONACO_TARBALL, timeout=120) as resp, open(tgz, "wb") as fh:
            shutil.copyfileobj(resp, fh)
        return tgz
    except (OSError, subprocess.SubprocessError, StopIteration):
        return None


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="session")
def monaco_vs(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """monaco-editor 0.43.0's `min/vs` (the files the CDN serves), or None when it cannot be
    had (no registry)."""
    given = os.environ.get("ODH_MONACO_DIR")
    if given:
        return Path(given)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "odh-core-e2e"
    vs = cache / f"monaco-editor-{MONACO_VERSION}" / "min" / "vs"
    if (vs / "loader.js").is_file():
        return vs
    tgz = fetch_monaco_tarball(tmp_path_factory.mktemp("monaco"))
    if tgz is None:
        return None
    assert integrity(tgz) == MONACO_INTEGRITY, "the monaco-editor tarball is not npm's"
    target = cache / f"monaco-editor-{MONACO_VERSION}"
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/min/vs/")
                   and m.isfile()]
        for m in members:
            m.name = m.name[len("package/"):]
        tar.extractall(target, members=members, filter="data")
    return vs if (vs / "loader.js").is_file() else None


@pytest.fixture
def ui(tec: OdhProcess, new_page: Callable[..., tuple[Any, PageWatch]]
       ) -> Iterator[Callable[..., tuple[Any, PageWatch]]]:
    """ui(path) -> (page, watch): the page opened at `path` on ODH-TEC's host, the disclaimer
    accepted if it asks. The watch is checked clean after the test unless the test cleared
    what it expected."""
    opened: list[PageWatch] = []

    def open_(path: str = "/") -> tuple[Any, PageWatch]:
        page, watch = new_page()
        page.goto(tec.url(path, host=HOST))
        page.wait_for_selector("text=Tools & Extensions Companion")
        dialog = page.get_by_role("dialog", name="Disclaimer")
        try:
            dialog.wait_for(timeout=1500)
        except Exception:
            pass
        else:
            dialog.get_by_role("button", name="Accept").click()
            dialog.wait_for(state="hidden")
        opened.append(watch)
        return page, watch

    yield open_
    for watch in opened:
        assert not watch.problems(), watch.problems()


def file_rows(page: Any) -> list[str]:
    """Names in the object table's file rows (folders excluded)."""
    cells = page.locator("table tbody tr td:first-child").filter(
        has_not=page.locator("button.button-folder-link"))
    return [c.strip() for c in cells.all_inner_texts()]


def folder_rows(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("button.button-folder-link").all_inner_texts()]


def wait_rows(page: Any, names: list[str], *, folders: bool = False,
              timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        rows = folder_rows(page) if folders else file_rows(page)
        if all(n in rows for n in names):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows {names} not shown; the table has {rows}")
        page.wait_for_timeout(100)


def row(page: Any, name: str) -> Any:
    return page.locator("table tbody tr").filter(
        has=page.locator("td:first-child", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")))


def alert(page: Any, text: str, timeout: float = 30_000) -> None:
    page.locator(".pf-v6-c-alert", has_text=text).first.wait_for(timeout=timeout)


def keys(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- buckets, deep links --------------------------------------------------------------------------
def test_buckets_list_create_and_deep_link_with_dots(ui, s3) -> None:
    page, watch = ui("/buckets")
    table = page.get_by_role("grid", name="Buckets list").or_(
        page.locator("table[aria-label='Buckets list']"))
    table.locator("text=" + BUCKET).first.wait_for()
    page.get_by_role("button", name="Create Bucket").click()
    dialog = page.get_by_role("dialog", name="Create a new bucket")
    dialog.locator("#bucket-name").fill("e2e.bucket.with.dots")
    dialog.get_by_role("button", name="Create").click()
    table.locator("text=e2e.bucket.with.dots").first.wait_for()
    assert "e2e.bucket.with.dots" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # Into the bucket from its row, then a reload of that deep link (a dot in the last segment).
    page.get_by_role("button", name="e2e.bucket.with.dots").click()
    page.wait_for_url(re.compile(r"/objects/e2e\.bucket\.with\.dots$"))
    crumb = page.locator("button[aria-label='bucket-name']")
    assert crumb.inner_text().strip() == "e2e.bucket.with.dots"
    page.reload()
    page.locator("text=S3 Objects Browser").wait_for()
    page.locator("button[aria-label='bucket-name']",
                 has_text="e2e.bucket.with.dots").wait_for()
    s3.put_object(Bucket="e2e.bucket.with.dots", Key="data/v1.json", Body=b"{}")
    page.goto(page.url + "/" + b64("data/"))  # a deep link into a folder of that bucket
    wait_rows(page, ["v1.json"])
    page.locator("button[aria-label='folder-name']", has_text="data").wait_for()
    assert not watch.problems(), watch.problems()


# -- folders --------------------------------------------------------------------------------------
def test_folders_navigation(ui, s3) -> None:
    page, watch = ui(f"/objects/{BUCKET}")
    page.locator("button[aria-label='bucket-name']", has_text=BUCKET).wait_for()
    for name in ("nav", "inner"):
        page.get_by_role("button", name="Create Folder").click()
        dialog = page.get_by_role("dialog", name="Create a new folder")
        dialog.locator("#folder-name").fill(name)
        dialog.get_by_role("button", name="Create").click()
        alert(page, "Folder created")
        wait_rows(page, [name], folders=True)
        page.locator("button.button-folder-link", has_text=name).click()
        page.locator("button[aria-label='folder-name']", has_text=name).wait_for()
    assert page.url.endswith("/" + b64("nav/inner/"))
    assert [c.strip() for c in page.locator(
        "button[aria-label='folder-name']").all_inner_texts()] == ["nav", "inner"]
    assert "nav/inner/.s3keep" in keys(s3, BUCKET, "nav/")
    # Back up through the breadcrumb.
    page.locator("button[aria-label='folder-name']", has_text="nav").click()
    wait_rows(page, ["inner"], folders=True)
    page.locator("button[aria-label='bucket-name']").click()
    wait_rows(page, ["nav"], folders=True)
    assert page.url.endswith(f"/objects/{BUCKET}")
    assert not watch.problems(), watch.problems()


def test_folder_of_1500_objects_lists_whole(ui, s3) -> None:
    # The stock UI sends no paging parameters and shows what one answer holds: the whole
    # folder must come back (COMPAT.md: up to a configurable cap of at least 10,000 keys).
    from concurrent.futures import ThreadPoolExecutor

    names = [f"obj-{i:05d}.txt" for i in range(1500)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=BUCKET, Key=f"many/{n}",
                                              Body=n.encode()), names))
    page, watch = ui(f"/objects/{BUCKET}/{b64('many/')}")
    wait_rows(page, [names[0]])
    page.wait_for_load_state("networkidle")
    rows = file_rows(page)
    assert len(rows) == 1500 and sorted(rows) == names, f"{len(rows)} rows shown"
    assert not watch.problems(), watch.problems()


# -- uploads, download ----------------------------------------------------------------------------
def _upload_single(page: Any, path: Path) -> None:
    page.get_by_role("button", name="Upload Single File").click()
    dialog = page.get_by_role("dialog", name="Upload file")
    dialog.locator("input[type=file]").set_input_files(str(path))
    dialog.locator(f"input[value='{path.name}']").or_(
        dialog.locator("text=" + path.name)).first.wait_for()
    dialog.get_by_role("button", name="Upload", exact=True).click()


@pytest.mark.parametrize("size", [1234, 50 * MiB], ids=["small", "50MiB"])
def test_upload_then_download_byte_exact(ui, s3, tmp_path, size) -> None:
    data = os.urandom(size)
    src = tmp_path / f"upload-{size}.bin"
    src.write_bytes(data)
    page, watch = ui(f"/objects/{BUCKET}/{b64('up/')}")
    page.locator("button[aria-label='folder-name']", has_text="up").wait_for()
    _upload_single(page, src)
    alert(page, f'File "{src.name}" has been successfully uploaded', timeout=180_000)
    wait_rows(page, [src.name])
    stored = s3.get_object(Bucket=BUCKET, Key=f"up/{src.name}")["Body"].read()
    assert len(stored) == size and sha256(stored) == sha256(data)
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    # Download from the row's link: the bytes the browser saves are the bytes uploaded.
    with page.expect_download(timeout=120_000) as dl:
        row(page, src.name).locator(f"a[download='{src.name}']").click()
    saved = Path(dl.value.path())
    assert dl.value.suggested_filename == src.name
    assert saved.stat().st_size == size and sha256(saved.read_bytes()) == sha256(data)
    assert not watch.problems(), watch.problems()


def test_upload_multiple_files(ui, s3, tmp_path) -> None:
    files = {f"multi-{i}.txt": os.urandom(2000 + i) for i in range(3)}
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    page, watch = ui(f"/objects/{BUCKET}/{b64('multi/')}")
    page.locator("button[aria-label='folder-name']", has_text="multi").wait_for()
    page.get_by_role("button", name="Upload Multiple Files").click()
    dialog = page.get_by_role("dialog", name="Upload multiple files")
    dialog.locator("input[type=file]").set_input_files(paths)
    dialog.locator("text=3 of 3 files uploaded").wait_for(timeout=60_000)
    dialog.locator("button.pf-m-primary", has_text="Close").click()
    wait_rows(page, list(files))
    for name, data in files.items():
        assert s3.get_object(Bucket=BUCKET, Key=f"multi/{name}")["Body"].read() == data
    assert not watch.problems(), watch.problems()


def test_upload_cancel_leaves_nothing(ui, s3, tmp_path) -> None:
    size = 24 * MiB
    src = tmp_path / "cancelled.bin"
    src.write_bytes(os.urandom(size))
    page, watch = ui(f"/objects/{BUCKET}/{b64('cancel/')}")
    page.locator("button[aria-label='folder-name']", has_text="cancel").wait_for()
    # Slow the browser's uploads (DevTools throttling) so there is time to cancel mid-way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 2 * MiB})
    _upload_single(page, src)
    dialog = page.get_by_role("dialog", name="Upload file")
    dialog.get_by_role("progressbar", name="Upload to backend progress").or_(
        dialog.locator("[title='Upload to backend progress']")).first.wait_for(timeout=30_000)
    with page.expect_response(lambda r: "/api/objects/abort-upload" in r.url) as aborted:
        dialog.get_by_role("button", name="Cancel").click()
    assert aborted.value.status == 200
    dialog.wait_for(state="hidden")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    # The stock UI reports the aborted request itself ("File Upload Failed ... canceled").
    alert(page, "canceled")
    deadline = time.monotonic() + 30
    while s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads") and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert "cancel/cancelled.bin" not in keys(s3, BUCKET, "cancel/")
    watch.console_errors[:] = [c for c in watch.console_errors
                               if "canceled" not in c.lower() and "Error uploading" not in c]
    # The page aborts its request, then calls abort-upload; the server answers the upload it
    # aborted with 409 UploadAborted on the still-open connection, which the browser's network
    # log may record before the page's abort reaches it (throttling keeps the body in flight).
    watch.failed[:] = [f for f in watch.failed
                       if not (f[0] == 409 and f[1] == "POST" and "/api/objects/upload/" in f[2])]
    assert not watch.problems(), watch.problems()


# -- preview --------------------------------------------------------------------------------------
def test_preview_shows_the_file_in_the_cdn_editor(ui, s3, monaco_vs) -> None:
    text = "def hello():\n    return 'preview from odh-core'\n"
    s3.put_object(Bucket=BUCKET, Key="preview/hello.py", Body=text.encode())
    cdn: list[str] = []
    page, watch = ui(f"/objects/{BUCKET}/{b64('preview/')}")

    def from_cdn(route: Any) -> None:
        url = route.request.url
        cdn.append(url)
        rel = url[len(MONACO_CDN):].split("?")[0] if url.startswith(MONACO_CDN) else None
        target = (monaco_vs / rel) if monaco_vs is not None and rel else None
        if target is not None and target.is_file():
            ctype = {".js": "application/javascript", ".css": "text/css",
                     ".ttf": "font/ttf"}.get(target.suffix, "application/octet-stream")
            route.fulfill(status=200, body=target.read_bytes(), headers={
                "Content-Type": ctype, "Access-Control-Allow-Origin": "*"})
        else:
            route.fulfill(status=404, body="not in the local copy")

    page.context.route(re.compile(r"^https://cdn\.jsdelivr\.net/"), from_cdn)
    wait_rows(page, ["hello.py"])
    with page.expect_response(lambda r: "/api/objects/view/" in r.url) as view:
        row(page, "hello.py").locator("button.button-file-control").first.click()
    assert view.value.status == 200 and view.value.body() == text.encode()
    dialog = page.get_by_role("dialog", name="File Preview")
    dialog.wait_for()
    # The page's CSP let the browser ask the CDN for Monaco's loader (a blocked load never
    # reaches the network, and the console would say "Refused to load").
    deadline = time.monotonic() + 20
    while not any(u.startswith(MONACO_CDN + "loader.js") for u in cdn):
        assert time.monotonic() < deadline, f"Monaco's loader was never requested: {cdn}"
        page.wait_for_timeout(100)
    assert all(u.startswith(MONACO_CDN) for u in cdn), cdn
    if monaco_vs is None:
        pytest.fail("monaco-editor 0.43.0 could not be fetched from the npm registry: the CSP "
                    "check passed, the editor was not checked; set ODH_MONACO_DIR")
    editor = dialog.locator(".monaco-editor .view-lines")
    editor.wait_for(timeout=30_000)
    assert "preview from odh-core" in editor.inner_text().replace("\u00a0", " ")
    assert not [c for c in watch.console_errors if "Content Security Policy" in c]
    assert not watch.problems(), watch.problems()


# -- delete ---------------------------------------------------------------------------------------
def test_delete_folder_keeps_its_sibling_then_delete_file(ui, s3) -> None:
    for key in ("sib/data/a.txt", "sib/data/deeper/b.txt", "sib/data2.csv", "sib/database.txt"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    page, watch = ui(f"/objects/{BUCKET}/{b64('sib/')}")
    wait_rows(page, ["data2.csv", "database.txt"])
    wait_rows(page, ["data"], folders=True)
    folder = page.locator("table tbody tr").filter(
        has=page.locator("button.button-folder-link", has_text=re.compile(r"^\s*data\s*$")))
    folder.locator("button.pf-m-danger").click()
    dialog = page.get_by_role("dialog", name="Delete folder and all its content?")
    dialog.locator("#delete-folder-modal-input").fill("data")
    dialog.get_by_role("button", name="Delete folder").click()
    alert(page, 'Folder "data" has been successfully deleted')
    deadline = time.monotonic() + 20
    while "data" in folder_rows(page) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert "data" not in folder_rows(page)
    wait_rows(page, ["data2.csv", "database.txt"])
    assert sorted(keys(s3, BUCKET, "sib/")) == ["sib/data2.csv", "sib/database.txt"]
    row(page, "data2.csv").locator("button.pf-m-danger").click()
    dialog = page.get_by_role("dialog", name="Delete file?")
    dialog.locator("#delete-modal-input").fill("data2.csv")
    dialog.get_by_role("button", name="Delete file").click()
    alert(page, 'File "data2.csv" has been successfully deleted')
    assert sorted(keys(s3, BUCKET, "sib/")) == ["sib/database.txt"]
    deadline = time.monotonic() + 20
    while "data2.csv" in file_rows(page) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert file_rows(page) == ["database.txt"]
    assert not watch.problems(), watch.problems()


# -- settings -------------------------------------------------------------------------------------
def test_settings_pages(ui, s3) -> None:
    page, watch = ui("/settings")
    s3_tab = page.get_by_role("tabpanel", name="S3 settings")
    s3_tab.locator("#accessKeyId").wait_for()
    page.wait_for_function("document.querySelector('#endpoint')?.value.startsWith('http')")
    assert page.locator("#endpoint").input_value() == s3.meta.endpoint_url
    assert page.locator("#accessKeyId").input_value() == "sandbox-access-key"
    assert page.locator("#defaultBucket").input_value() == BUCKET
    page.get_by_role("button", name="Test Connection").first.click()
    alert(page, "Connection successful!")
    tabs = page.locator("[role=tab]")
    tabs.filter(has_text="HuggingFace Settings").click()
    panel = page.locator("[role=tabpanel]:not([hidden])")
    panel.get_by_text("Token", exact=True).wait_for()
    panel.locator("input").first.wait_for()
    assert panel.get_by_role("button", name="Save HuggingFace Settings").is_visible()
    tabs.filter(has_text="Max Concurrent Transfers").click()
    page.locator("text=/Max Concurrent Transfers: \\d+/").wait_for()
    tabs.filter(has_text="Proxy Settings").click()
    for field in ("#httpProxy", "#httpsProxy", "#testUrl"):
        page.locator(field).wait_for()
    assert not watch.problems(), watch.problems()


# -- Hugging Face import --------------------------------------------------------------------------
def test_hf_import_shows_progress_to_the_end(ui, s3) -> None:
    # COMPAT.md §2 / issue 17: the UI opens import-model-progress before it starts the import;
    # the stream must carry that import's files and end when it ends, so the modal shows each
    # file's progress and says "Model imported" only once everything is in S3.
    model = "sandbox-org/tiny-model"
    expected = {"README.md", "config.json", "tokenizer.json", "model.safetensors"}
    page, watch = ui(f"/objects/{BUCKET}/{b64('models/')}")
    page.locator("button[aria-label='folder-name']", has_text="models").wait_for()
    page.get_by_role("button", name="Import HF Model").click()
    dialog = page.get_by_role("dialog", name="Import a model from Hugging Face")
    dialog.locator("#model-name").fill(model)
    seen: set[str] = set()
    dialog.get_by_role("button", name="Import").click()
    deadline = time.monotonic() + 120
    while dialog.is_visible():
        try:  # each file's progress bar is titled "<file> - <status>"
            shown = dialog.inner_text(timeout=1000)
        except Exception:
            break  # closed meanwhile
        seen.update(n for n in expected if f"{n} - " in shown)
        assert time.monotonic() < deadline, "the import modal never closed"
        page.wait_for_timeout(50)
    stored = keys(s3, BUCKET, f"models/{model}/")  # what S3 holds as the modal closes
    alert(page, f'Model "{model}" has been successfully imported')
    # Everything is in S3 when the UI says it is done, and the UI showed the files' progress.
    assert {k.rsplit("/", 1)[-1] for k in stored} == expected, stored
    assert stored[f"models/{model}/model.safetensors"] == 4 * MiB
    assert seen, "the modal showed no file's progress before saying the model was imported"
    wait_rows(page, [model.split("/")[0]], folders=True)
    assert not watch.problems(), watch.problems()
