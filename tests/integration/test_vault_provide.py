"""Keys made many at once (`Vault.provide`, a bulk import's and the benches' seeding) seal and
open as keys made one at a time, and never replace a key nor revive an erased person."""

from __future__ import annotations

from uuid import uuid4

from upare.store import build_vault


def test_provided_keys_seal_and_open_in_another_process_and_keep_what_was_there(settings):
    made = build_vault(settings)
    had, erased, new = str(uuid4()), str(uuid4()), str(uuid4())
    before = made.seal(had, {"email": "had@x.io"})
    made.seal(erased, {"email": "gone@x.io"})
    made.erase(erased)

    made.provide([had, erased, new])
    sealed = made.seal(new, {"email": "new@x.io"})
    assert sealed is not None
    assert made.seal(erased, {"email": "gone@x.io"}) is None

    other = build_vault(settings, create=False)  # keys read from the table, not the cache
    assert other.open(new, sealed) == {"email": "new@x.io"}
    assert before is not None and other.open(had, before) == {"email": "had@x.io"}
    assert not other.holds(erased)
    made.close()
    other.close()
