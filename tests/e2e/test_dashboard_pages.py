"""The stock dashboard's pages, each as admin (dev auth) and as alice (her token, dev auth off),
served by a real odh-core on the sandbox: each page must show its content (rows, names), with
no failed response the page does not expect and no page error. Settings pages exist for the
admin only. One odh-core and one browser page per role for the whole module."""
from __future__ import annotations

import pytest

from .dashboard_helpers import NOT_FOUND_PAGE, Dash, admin, alice

__all__ = ["admin", "alice"]  # the module's fixtures: one odh-core and browser page per role
P = "/projects/alice-project"
# (id, path, what the page must show)
PAGES = [
    ("home", "/", ["Alice's project", "Go to Projects"]),
    ("applications-enabled", "/applications/enabled", ["Jupyter", "Open application"]),
    ("applications-explore", "/applications/explore", ["Starburst Enterprise", "NVIDIA NIM"]),
    ("resources", "/learning-resources", ["Creating a Jupyter notebook"]),
    ("projects", "/projects", ["Alice's project", "Create project"]),
    ("project-overview", f"{P}?section=overview", ["Train models", "Create a workbench"]),
    ("project-workbenches", f"{P}?section=workbenches", ["Start by creating a workbench"]),
    ("project-pipelines", f"{P}?section=pipelines-projects", ["Configure pipeline server"]),
    ("project-models", f"{P}?section=model-server", ["Select single-model"]),
    ("project-cluster-storage", f"{P}?section=cluster-storages", ["Add cluster storage"]),
    ("project-connections", f"{P}?section=connections", ["Alice's models"]),  # seeded (85-)
    ("project-permissions", f"{P}?section=permissions", ["Manage permissions"]),
    ("model-serving", "/ai-hub/models/deployments", ["Model deployments", "No deployed models"]),
]
SETTINGS = [
    ("general", "/settings/cluster/general", ["PVC size", "Idle workbench timeout"]),
    ("storage-classes", "/settings/cluster/storage-classes", ["standard-csi", "Shared (RWX)"]),
    ("workbench-images", "/settings/environment-setup/workbench-images",
     ["Jupyter | Minimal | CPU | Python 3.11"]),
    ("connection-types", "/settings/environment-setup/connection-types",
     ["S3 compatible object storage - v1"]),
    ("hardware-profiles", "/settings/environment-setup/hardware-profiles", ["default-profile"]),
    ("model-deployment", "/settings/model-resources-operations/model-deployment-settings",
     ["Enable model serving"]),
    ("model-registry", "/settings/model-resources-operations/model-registry",
     ["modelregistry-sample"]),
    ("user-management", "/settings/user-management", ["odh-admins", "system:authenticated"]),
]


def _row(dash: Dash, *cells: str) -> None:
    """A table row showing every one of `cells`."""
    row = dash.page.get_by_role("row")
    for cell in cells:
        row = row.filter(has_text=cell)
    row.first.wait_for()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("role", ["admin", "alice"])
@pytest.mark.parametrize("path,shows", [p[1:] for p in PAGES], ids=[p[0] for p in PAGES])
def test_page(role: str, path: str, shows: list[str], request: pytest.FixtureRequest) -> None:
    dash: Dash = request.getfixturevalue(role)
    dash.goto(path)
    for needle in shows:
        dash.text(needle)
    body = dash.page.locator("body").inner_text()
    if path == "/projects":
        _row(dash, "Alice's project", "alice")
    if path in ("/", "/projects"):
        # Projects are the namespaces the caller may see: bob's is the admin's business.
        assert ("Bob's project" in body) == (role == "admin"), body[:800]
    if path.endswith("section=permissions"):
        _row(dash, "alice", "Admin")
    dash.assert_clean()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("path,shows", [s[1:] for s in SETTINGS], ids=[s[0] for s in SETTINGS])
def test_settings_page_as_admin(admin: Dash, path: str, shows: list[str]) -> None:
    admin.goto(path)
    for needle in shows:
        admin.text(needle)
    if "storage-classes" in path:
        _row(admin, "standard-csi", "Default")
    admin.assert_clean()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("path", [s[1] for s in SETTINGS], ids=[s[0] for s in SETTINGS])
def test_settings_pages_absent_for_alice(alice: Dash, path: str) -> None:
    alice.goto(path)
    alice.text(NOT_FOUND_PAGE)
    nav = alice.page.get_by_role("navigation").first.inner_text()
    assert "Projects" in nav and "Settings" not in nav and "User management" not in nav, nav
    alice.assert_clean()
