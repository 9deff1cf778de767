# The core's test kit, the same one plugin authors use.
pytest_plugins = ["odh_core.testing"]
