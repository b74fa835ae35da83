"""Passwords are hashed with OWASP's minimum Argon2id parameters (CONTRACT section 11)."""

from argon2 import extract_parameters

from domain import passwords
from tests.conftest import SHIPPED_HASHER


def test_a_password_is_hashed_with_owasps_minimum_argon2id(monkeypatch):
    monkeypatch.setattr(passwords, "HASHER", SHIPPED_HASHER)  # the suite's own is cheaper

    digest = passwords.hash_password("correct horse")

    parameters = extract_parameters(digest)
    assert digest.startswith("$argon2id$")
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19456, 2, 1)
    assert passwords.verify_password(digest, "correct horse")
    assert not passwords.verify_password(digest, "battery staple")
