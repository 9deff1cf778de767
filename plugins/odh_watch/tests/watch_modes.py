"""The watch modes the tests run in (a module, not conftest: test modules import it)."""
import pytest

ALL_MODES = pytest.mark.parametrize("watch_config", [{"mode": "per-user"}, {"mode": "shared"},
                                                    {"mode": "auto"}],
                                    ids=["per-user", "shared", "auto"])
# Every mode serves sockets from informers (resume, relist, replay by resourceVersion).
INFORMER_MODES = ALL_MODES
