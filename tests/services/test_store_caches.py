"""The caches a Store owns: compiled models and org directories live with one Store and
are never served to another (another database, another app in the same process)."""
from __future__ import annotations

from services.org.directory import Directory
from services.persistence.caches import LockedLRU
from services.persistence.unit_of_work import Store
from services.workflow.definitions import cached_model, latest_definition, model_of
from tests.services.helpers import deploy, import_demo_org


def test_a_deployed_version_is_compiled_once_per_store(store):
    import_demo_org(store)
    deploy(store)
    with store.reading() as uow:
        definition = latest_definition(uow, "inbound_materials")
        assert cached_model(uow, definition.checksum, definition.key) is not None
        assert model_of(uow, definition) is model_of(uow, definition)


def test_another_store_on_the_same_database_compiles_its_own_model(store):
    import_demo_org(store)
    deploy(store)
    other = Store(store.database_url)
    try:
        with other.reading() as uow:
            definition = latest_definition(uow, "inbound_materials")
            assert cached_model(uow, definition.checksum, definition.key) is None
            with store.reading() as mine:
                assert model_of(uow, definition) is not model_of(mine, definition)
    finally:
        other.dispose()


def test_a_directory_is_cached_per_org_revision_in_its_own_store(store):
    import_demo_org(store)
    other = Store(store.database_url)
    try:
        with store.reading() as uow, other.reading() as theirs:
            cached = Directory.at_revision(uow, "revision-1")
            assert Directory.at_revision(uow, "revision-1") is cached
            assert Directory.at_revision(theirs, "revision-1") is not cached
            assert Directory.at_revision(uow, None) is not cached
    finally:
        other.dispose()


def test_the_least_recently_used_entry_goes_first():
    cache = LockedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
