import pytest

from odh_core.config import ConfigError, env_overrides, load_settings, validate_settings


def test_env_overrides_nest_and_parse_yaml_scalars():
    tree = env_overrides({"ODH_SERVER__PORT": "9000", "ODH_PLUGINS__S3__ENABLED": "false",
                          "ODH_AUTH__ADMIN_GROUPS": "[a, b]", "UNRELATED": "x"})
    assert tree == {"server": {"port": 9000}, "plugins": {"s3": {"enabled": False}},
                    "auth": {"admin_groups": ["a", "b"]}}


def test_legacy_env_vars_are_honoured():
    s = load_settings(environ={"PORT": "8888", "IP": "127.0.0.2", "LOG_LEVEL": "debug",
                               "APP_ENV": "development"})
    assert (s.server.port, s.server.host, s.logging.level, s.auth.mode) == (
        8888, "127.0.0.2", "debug", "dev")


def test_odh_env_beats_legacy_env_and_file(tmp_path):
    f = tmp_path / "odh.yaml"
    f.write_text("server:\n  port: 7000\n")
    s = load_settings(f, environ={"PORT": "8000", "ODH_SERVER__PORT": "9000"})
    assert s.server.port == 9000
    assert load_settings(f, environ={}).server.port == 7000


def test_unknown_core_key_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"server\.prot: unknown key"):
        validate_settings({"server": {"prot": 1}})


def test_bad_yaml_names_the_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml is not valid YAML"):
        load_settings(f, environ={})


def test_plugins_section_must_be_mappings():
    with pytest.raises(ConfigError, match="'plugins' must map"):
        validate_settings({"plugins": {"s3": "yes"}})


def test_websocket_ping_timeout_may_not_outlast_the_interval():
    """Tornado would warn on the first WebSocket and use the interval instead: the defaults
    agree, and a contradicting file is refused at start."""
    server = validate_settings({}).server
    assert 0 < server.websocket_ping_timeout <= server.websocket_ping_interval
    with pytest.raises(ConfigError, match="websocket_ping_timeout"):
        validate_settings({"server": {"websocket_ping_interval": 30,
                                      "websocket_ping_timeout": 60}})
