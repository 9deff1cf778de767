"""Every config key is documented, and conf/odh.yaml is what the code generates."""
from pathlib import Path

from pydantic import BaseModel

from odh_core.config import Settings
from odh_core.reference import installed_plugin_configs, render_reference

ROOT = Path(__file__).resolve().parents[2]


def undocumented(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if not field.description:
            out.append(f"{prefix}{name}")
        sub = field.default_factory() if field.default_factory else field.default
        if isinstance(sub, BaseModel):
            out += undocumented(type(sub), f"{prefix}{name}.")
    return out


def test_every_core_key_is_documented():
    assert undocumented(Settings, "") == []


def test_every_plugin_key_is_documented():
    missing = []
    for name, model in installed_plugin_configs().items():
        missing += undocumented(model, f"plugins.{name}.")
    assert missing == []


def test_conf_odh_yaml_is_generated_from_the_code():
    expected = render_reference(installed_plugin_configs())
    actual = (ROOT / "conf" / "odh.yaml").read_text()
    assert actual == expected, "regenerate: odh-core config reference > conf/odh.yaml"


def test_the_reference_is_a_valid_config():
    import yaml

    from odh_core.config import validate_settings
    from odh_core.loader import validate_plugin_config, discover, import_plugin

    settings = validate_settings(yaml.safe_load(render_reference(installed_plugin_configs())))
    for name, info in discover().items():
        import_plugin(info)
        validate_plugin_config(name, info.cls, settings.plugins[name])
