"""Queries on accounts, answered from the users read model."""

from __future__ import annotations

import json
from typing import Any

from projections.database import Reader
from projections.users import UsersProjection

PROFILES = UsersProjection.view("profiles")
PUBLIC = "uid, username, nickname, avatar"
OWN = PUBLIC + ", email, email_verified, phone, phone_verified, details"
NONE = "{}"  # the stored avatar or details of a user who set none (projections/users.py)


def avatar_urls(uid: int, avatar: str) -> dict[str, str] | None:
    """Return the URL of each stored size of a user's avatar, or None without one."""
    if avatar == NONE:  # most users: no parse, no sort
        return None
    sizes = sorted(json.loads(avatar), key=int, reverse=True)
    return {size: f"/api/User/avatar?uid={uid}&size={size}" for size in sizes} or None


def public_profile(db: Reader, uid: int) -> dict[str, Any] | None:
    """Return what anyone may see of a user, or None when there is no such user."""
    row = db.fetchone(f"SELECT {PUBLIC} FROM {PROFILES} WHERE uid = ?", (uid,))
    if row is None:
        return None
    uid, username, nickname, avatar = row
    return {
        "uid": uid,
        "username": username,
        "nickname": nickname,
        "avatar": avatar_urls(uid, avatar),
    }


def own_profile(db: Reader, uid: int) -> dict[str, Any] | None:
    """Return a user's profile as they see it: with email, phone, their verified flags and
    the detail fields they set."""
    row = db.fetchone(f"SELECT {OWN} FROM {PROFILES} WHERE uid = ?", (uid,))
    if row is None:
        return None
    uid, username, nickname, avatar, email, email_verified, phone, phone_verified, details = row
    return {
        "uid": uid,
        "username": username,
        "nickname": nickname,
        "avatar": avatar_urls(uid, avatar),
        "email": email,
        "email_verified": bool(email_verified),
        "phone": phone,
        "phone_verified": bool(phone_verified),
        "details": {} if details == NONE else json.loads(details),
    }


def avatar_file(db: Reader, uid: int, size: str) -> str | None:
    """Return the stored file name of a user's avatar in this size, if there is one."""
    row = db.fetchone(f"SELECT avatar FROM {PROFILES} WHERE uid = ?", (uid,))
    return None if row is None else json.loads(row[0]).get(size)
