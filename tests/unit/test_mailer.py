"""The mailer's transports without a server: files once per key, the console, the URLs read."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from domain.errors import UpareError
from domain.users import EMAIL, check_email
from projections import outbox
from upare.settings import Settings
from workers.mailer import (
    Console,
    Folder,
    Mailer,
    Smtp,
    Unavailable,
    build,
    message_id,
    transport,
)

SENDER = "Upare <no-reply@upare.test>"
KEY = "friends:3f2a:7:notify"


def test_a_mail_sent_to_a_folder_twice_under_one_key_is_one_file(tmp_path: Path):
    mailer = Mailer(f"file://{tmp_path}/mail", f"file://{tmp_path}/sms", SENDER)
    hello = outbox.mail(to="bob@x.io", subject="A new friend", body="Alice befriended you.")

    mailer.send(KEY, hello)
    mailer.send(KEY, hello)

    (written,) = (tmp_path / "mail").iterdir()
    assert written.name == f"{KEY}.eml"
    mail = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert (mail["To"], mail["From"], mail["Subject"]) == ("bob@x.io", SENDER, "A new friend")
    assert mail["Message-ID"] == message_id(KEY)
    assert mail.get_content().strip() == "Alice befriended you."


def test_an_sms_goes_to_the_sms_folder_as_a_file_of_its_own(tmp_path: Path):
    mailer = Mailer(f"file://{tmp_path}/mail", f"file://{tmp_path}/sms", SENDER)

    mailer.send("users:9:2:code", outbox.sms(to="+15550100", body="Your code: 123456"))

    assert [path.name for path in (tmp_path / "sms").iterdir()] == ["users:9:2:code.sms"]
    assert not (tmp_path / "mail").exists()


def test_keys_that_differ_only_in_unsafe_characters_make_different_files(tmp_path: Path):
    mailer = Mailer(f"file://{tmp_path}", "console://", SENDER)
    for key in ("a/b:1", "a%2Fb:1"):
        mailer.send(key, outbox.mail(to="x@x.io", subject="s", body="b"))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["a%252Fb:1.eml", "a%2Fb:1.eml"]


def test_a_folder_that_cannot_be_written_is_unavailable(tmp_path: Path):
    (tmp_path / "taken").write_text("a file, not a folder")
    folder = Folder(f"file://{tmp_path}/taken", ".eml")
    email = build(KEY, outbox.mail(to="x@x.io", subject="s", body="b"), SENDER)

    with pytest.raises(Unavailable):
        folder.send(KEY, email)


def test_the_console_prints_the_whole_message(capsys: pytest.CaptureFixture[str]):
    Mailer("console://", "console://", SENDER).send(
        KEY, outbox.mail(to="bob@x.io", subject="Hi", body="Hello, Bob.")
    )

    printed = capsys.readouterr().out
    assert "To: bob@x.io" in printed and "Hello, Bob." in printed
    assert f"Message-ID: {message_id(KEY)}" in printed


def test_the_message_id_is_the_same_for_every_copy_and_different_for_every_key():
    assert message_id(KEY) == message_id(KEY)
    assert message_id(KEY) != message_id(KEY.replace("7", "8"))
    assert message_id(KEY).startswith("<") and message_id(KEY).endswith("@upare.outbox>")


def test_an_smtp_url_names_host_port_login_and_starttls():
    smtp = transport("smtp://mailer:s%40cret@mail.example.com:2525?starttls=1", ".eml")

    assert isinstance(smtp, Smtp)
    assert (smtp.host, smtp.port, smtp.user, smtp.password, smtp.starttls) == (
        "mail.example.com",
        2525,
        "mailer",
        "s@cret",
        True,
    )
    assert isinstance(transport("console://", ".eml"), Console)


def test_delivery_settings_are_read_from_the_environment(tmp_path: Path):
    settings = Settings.from_env(
        {
            "UPARE_DATA_DIR": str(tmp_path),
            "UPARE_DELIVERY_ATTEMPTS": "7",
            "UPARE_DELIVERY_BACKOFF": "0.5",
            "UPARE_SMS_URL": "console://",
        }
    )

    assert (settings.delivery_attempts, settings.delivery_backoff) == (7, 0.5)
    assert settings.mail_url == f"file://{tmp_path.resolve()}/mail"
    assert settings.sms_url == "console://"
    assert Settings.from_env({"UPARE_DATA_DIR": str(tmp_path)}).delivery_attempts == 5


@pytest.mark.parametrize(
    ("variable", "value"),
    [("UPARE_MAIL_URL", "mailto:me"), ("UPARE_SMS_URL", "smtp://x:25")],
)
def test_a_transport_url_of_no_known_kind_is_refused_at_start(variable: str, value: str):
    with pytest.raises(SystemExit, match=variable):
        Settings.from_env({variable: value})


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.from_regex(EMAIL, fullmatch=True))
def test_every_address_an_account_may_have_is_one_recipient_of_a_buildable_mail(address):
    try:
        email = check_email(address)
    except UpareError:
        return  # too long, or blank at an end: register refuses it
    mail = build(KEY, outbox.mail(to=email, subject="Your code", body="123456"), SENDER)
    assert bytes(mail)
    assert len(mail["To"].addresses) == 1


@pytest.mark.parametrize("address", ["a,b@x.io", "a\x85b@x.io", "a\u2028b@x.io", "<b>a@x.io"])
def test_addresses_a_mail_header_would_break_or_split_are_refused(address):
    with pytest.raises(UpareError) as refused:
        check_email(address)
    assert refused.value.errors == {"email": "must be an email address"}
