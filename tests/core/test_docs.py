"""The generated guides in docs/ are what the code generates now (regenerate: odh-core docs)."""
import inspect
from pathlib import Path

import pytest

import odh_core
from odh_core import hookspecs
from odh_core.cli import main
from odh_core.docs import DOCS, generated, upgrade_notes

COMPAT = Path(__file__).resolve().parents[3] / "shared" / "COMPAT.md"


@pytest.fixture(scope="module")
def docs() -> dict[str, str]:
    return {path.name: text for path, text in generated().items()}


def test_committed_docs_are_generated_from_the_code(docs):
    stale = [name for name, text in docs.items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != text]
    assert stale == [], "regenerate: odh-core docs"


def test_the_check_command_agrees(capsys):
    assert main(["docs", "--check"]) == 0


@pytest.mark.skipif(not COMPAT.exists(), reason="COMPAT.md (../shared) is not next to this "
                    "checkout; docs/upgrade-notes.md is checked where it is")
def test_upgrade_notes_follow_compat_md():
    assert (DOCS / "upgrade-notes.md").read_text() == upgrade_notes(COMPAT.read_text()), \
        "regenerate: odh-core docs --compat ../shared/COMPAT.md"


def test_upgrade_notes_take_the_fix_column_only():
    compat = "\n".join([
        "## 1. Things", "", "| route | contract | fix over the old backend |", "|---|---|---|",
        "| `GET /a` | body | streams now |", "| `GET /b` | body | |", "",
    ])
    assert upgrade_notes(compat) == "### 1. Things\n\n- `GET /a`: streams now\n"


def test_the_plugin_guide_covers_every_hook_and_public_name(docs):
    guide = docs["plugin-guide.md"]
    for name, f in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(f, "odh_core_spec"):
            assert f"### `{name}(" in guide
    for name in odh_core.__all__:
        assert f"- `{name}` (" in guide


def test_the_operator_guide_has_its_sections(docs):
    guide = docs["operator-guide.md"]
    for heading in ("## Configuration reference", "## Routes", "## Metrics",
                    "## RBAC for odh-core's service account",
                    "## Upgrade notes from the Node backends"):
        assert heading in guide
    assert "`odh_http_request_duration_seconds`" in guide
    assert "| GET | `/api/openapi.json` | core |" in guide
