"""The odh-core command, run as a real process."""
import json
import subprocess
import sys

import pytest


def odh(*args, env=None):
    return subprocess.run([sys.executable, "-m", "odh_core", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_config_check_rejects_a_typo_with_the_plugin_name(tmp_path):
    f = tmp_path / "odh.yaml"
    f.write_text("plugin_autoload: false\nplugins:\n  example:\n    enabled: true\n"
                 "    gretting: hi\n")
    result = odh("config", "check", "--config", str(f))
    assert result.returncode == 2
    assert "plugin 'example' config is invalid" in result.stderr
    assert "plugins.example.gretting: unknown key" in result.stderr


def test_config_check_accepts_a_good_file(tmp_path):
    f = tmp_path / "odh.yaml"
    f.write_text("plugin_autoload: false\nsandbox: {mode: 'off'}\nplugins:\n  example:\n"
                 "    enabled: true\n    greeting: Hej\n")
    result = odh("config", "check", "--config", str(f))
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout


def test_config_check_rejects_unreadable_yaml(tmp_path):
    f = tmp_path / "odh.yaml"
    f.write_text("server: [\n")
    result = odh("config", "check", "--config", str(f))
    assert result.returncode == 2 and "not valid YAML" in result.stderr


def test_plugins_list_json_shows_enabled_state(tmp_path):
    f = tmp_path / "odh.yaml"
    f.write_text("plugins:\n  example:\n    enabled: false\n")
    result = odh("plugins", "list", "--json", "--config", str(f))
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["example"]["enabled"] is False
    assert rows["example"]["distribution"] == "odh-plugin-example"
    assert rows["k8s"]["enabled"] is True


@pytest.mark.parametrize("args", [["serve", "--reload", "--workers", "2"]])
def test_serve_refuses_reload_with_workers(args):
    result = odh(*args)
    assert result.returncode == 2 and "--reload cannot be combined" in result.stderr
