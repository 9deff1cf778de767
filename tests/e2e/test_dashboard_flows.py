"""What a user does in the stock dashboard, as admin (dev auth) and as alice (her token): create
a project (and see its WebSocket watch event arrive), a connection and a workbench in it, and
start a basic workbench from the Jupyter tile. Each step asserts what the page then shows, no
failed response the flow does not expect and no page error. One odh-core and one browser page
per role for the module.

What no sandbox can have: a notebook controller. A created workbench stays "Starting", and the
basic workbench's Route never appears (the stock page leaves that 404 unhandled: a page error
allowed in that one step)."""
from __future__ import annotations

import json
import pytest

from .dashboard_helpers import (AFTER_START, BEFORE_FIRST_START, ROUTE_404_PAGE_ERROR, Dash,
                                admin, alice, either)

ROLES = ["admin", "alice"]
__all__ = ["admin", "alice"]  # the module's fixtures: one odh-core and browser page per role


def _project_events(dash: Dash, name: str) -> list[str]:
    """Types of the Project watch events about `name` received over WebSockets."""
    out = []
    for frame in dash.frames:
        try:
            event = json.loads(frame)
        except ValueError:
            continue
        obj = event.get("object") if isinstance(event, dict) else None
        if isinstance(obj, dict) and obj.get("kind") == "Project" and \
                (obj.get("metadata") or {}).get("name") == name:
            out.append(event.get("type"))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ROLES)
def test_create_project_connection_workbench(role: str, request: pytest.FixtureRequest) -> None:
    dash: Dash = request.getfixturevalue(role)
    page, name = dash.page, f"e2e-{role}"
    # A project: the modal makes a ProjectRequest; the projects watch (a WebSocket) tells
    # the page about it, and the page opens it.
    dash.goto("/projects")
    dash.text("Alice's project")
    page.get_by_role("button", name="Create project").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=False).first.fill(f"E2E {role}")
    dialog.get_by_text(f"The resource name will be {name}").wait_for()
    dialog.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_url(f"**/projects/{name}**")
    page.get_by_role("heading", name=f"E2E {role}").first.wait_for()
    assert "ADDED" in _project_events(dash, name), dash.frames[-5:]
    dash.assert_clean()

    # A connection (S3, the seed connection type), listed in the project's Connections tab.
    dash.goto(f"/projects/{name}?section=connections")
    page.get_by_role("button", name="Create connection").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection name").fill("my-bucket")
    dialog.get_by_label("Access key").fill("AKIAEXAMPLE")
    dialog.get_by_label("Secret key").fill("not-a-real-secret")
    dialog.get_by_label("Endpoint").fill("https://s3.example.com")
    dialog.get_by_label("Bucket").fill("data")
    dialog.get_by_role("button", name="Create", exact=True).click()
    dialog.wait_for(state="detached")
    page.get_by_role("row").filter(has_text="my-bucket").filter(
        has_text="S3 compatible object storage").first.wait_for()
    dash.assert_clean()

    # A workbench: the seed image (its ImageStream has status tags) and hardware profile are
    # offered; the Notebook is created and, with no notebook controller, stays Starting.
    dash.goto(f"/projects/{name}/spawner")
    dash.text("Python v3.11")
    dash.text("default-profile")
    page.get_by_test_id("workbench-name").fill("wb-one")
    page.get_by_role("button", name="Create workbench").last.click()
    page.wait_for_url("**section=workbenches**")
    row = page.get_by_role("row").filter(has_text="wb-one")
    row.filter(has_text="Jupyter | Minimal").filter(has_text="Starting").first.wait_for()
    dash.assert_clean()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ROLES)
def test_start_basic_workbench(role: str, request: pytest.FixtureRequest) -> None:
    dash: Dash = request.getfixturevalue(role)
    page = dash.page
    dash.goto("/notebookController")
    page.get_by_role("heading", name="Start a basic workbench").wait_for()
    dash.text("Python v3.11")
    dash.text("default-profile")
    dash.assert_clean(BEFORE_FIRST_START)
    page.get_by_role("button", name="Start workbench", exact=True).click()
    dash.text(f"jupyter-nb-{role} status")
    dash.text("Starting")
    body = page.locator("body").inner_text()
    assert "Failed to create the notebook" not in body and "Error creating notebook" not in body
    dash.assert_clean(either(BEFORE_FIRST_START, AFTER_START),
                      page_errors=(ROUTE_404_PAGE_ERROR,))
