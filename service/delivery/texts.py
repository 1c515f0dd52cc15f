"""The localizable texts of the mail, the SMS and the PDF letter.

Whatever the language, the secret stands alone on its own line as `Code: <secret>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.contracts.envelope import SealedDelivery

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Texts:
    subject: str
    greeting: str
    intro: str
    closing: str
    sms: str


TEXTS: dict[str, Texts] = {
    "en": Texts(
        subject="Your temporary password",
        greeting="Hello {name},",
        intro="Here is your temporary password (or the part of it sent to you by this channel).",
        closing="If you did not ask for this, please contact your helpdesk.",
        sms="Your temporary password:",
    ),
    "de": Texts(
        subject="Ihr temporäres Passwort",
        greeting="Guten Tag {name},",
        intro=(
            "Hier ist Ihr temporäres Passwort (oder der Teil davon, "
            "der Ihnen auf diesem Weg zugestellt wird)."
        ),
        closing="Falls Sie dies nicht angefordert haben, wenden Sie sich bitte an Ihren Helpdesk.",
        sms="Ihr temporäres Passwort:",
    ),
    "fr": Texts(
        subject="Votre mot de passe temporaire",
        greeting="Bonjour {name},",
        intro=(
            "Voici votre mot de passe temporaire (ou la partie qui vous est envoyée par ce canal)."
        ),
        closing="Si vous n'avez rien demandé, veuillez contacter votre support.",
        sms="Votre mot de passe temporaire :",
    ),
}


def texts_for(language: str | None) -> Texts:
    """`de`, `de-CH`, `de_CH` and `DE` all pick German; anything unknown falls back to English."""
    primary = (language or "").replace("_", "-").split("-")[0].lower()
    return TEXTS.get(primary, TEXTS[DEFAULT_LANGUAGE])


def code_line(request: SealedDelivery) -> str:
    return f"Code: {request.secret}"


def letter_lines(request: SealedDelivery) -> list[str]:
    """The body of the mail and the PDF letter, one entry per line."""
    texts = texts_for(request.language)
    return [
        texts.greeting.format(name=request.addressee),
        "",
        texts.intro,
        "",
        code_line(request),
        "",
        texts.closing,
    ]


def sms_text(request: SealedDelivery) -> str:
    return f"{texts_for(request.language).sms}\n{code_line(request)}"
