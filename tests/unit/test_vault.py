"""The vault's cache of unwrapped keys: bounded, and what it forgets it fetches again."""

from __future__ import annotations

from uuid import uuid4

from upare import vault
from upare.vault import MemoryKeys, Vault


class CountedKeys(MemoryKeys):
    """The wrapped keys in memory, counting how often a key is fetched."""

    fetched = 0

    def get(self, owner: str, default: str | None = None) -> str | None:
        self.fetched += 1
        return super().get(owner, default)


def test_the_vault_keeps_the_latest_keys_only_and_fetches_a_forgotten_one_again(monkeypatch):
    monkeypatch.setattr(vault, "CACHE_KEYS", 2)
    keys = CountedKeys()
    people = Vault(keys, "secret")
    owners = [str(uuid4()) for _ in range(3)]
    sealed = [people.seal(owner, {"email": f"{owner}@x.io"}) for owner in owners]

    fetched = keys.fetched
    assert people.open(owners[2], sealed[2]) == {"email": f"{owners[2]}@x.io"}
    assert keys.fetched == fetched  # among the latest two: in memory
    assert people.open(owners[0], sealed[0]) == {"email": f"{owners[0]}@x.io"}
    assert keys.fetched == fetched + 1  # the first was forgotten: fetched again
