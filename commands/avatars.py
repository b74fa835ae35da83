"""Commands on avatars: one frozen dataclass and its handler."""

from __future__ import annotations

from dataclasses import dataclass

from commands.application import Done, WriteApplication
from commands.users import load_user
from domain.avatars import avatar_images
from domain.errors import UpareError
from domain.images import ImageRejected
from upare.media import Media
from upare.settings import Settings


@dataclass(frozen=True, kw_only=True)
class UploadAvatar:
    uid: int
    picture: bytes  # the upload as sent


def upload_avatar(command: UploadAvatar, *, app: WriteApplication, settings: Settings) -> Done:
    """Make the picture the user's avatar in every size; 202301 when it is not acceptable.

    Its files are written before the event that names them is stored, and removed again when
    that fails (the bus may then run the command once more); the previous avatar's files are
    removed once the new one is stored. Answers `files`: the stored name of each size.
    """
    try:
        images = avatar_images(command.picture)
    except ImageRejected as ex:
        raise UpareError(202301, errors={"avatar": ex.reason}) from ex
    user = load_user(app, command.uid)
    media = Media(settings.media_dir)
    previous = list(user.avatar.values())
    files: dict[str, str] = {}
    try:
        for size, image in images.items():
            files[size] = media.store(image)
        user.set_avatar(files=files)
        done = app.record(user, files=files)
    except BaseException:
        media.remove(*files.values())
        raise
    media.remove(*previous)
    return done
