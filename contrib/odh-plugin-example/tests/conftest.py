pytest_plugins = ["odh_core.testing"]
