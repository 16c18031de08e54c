"""Chinese wording of the English error messages the store and the web layer raise, for the error page.

Why here and not at each `raise`: the store's messages are also the CLI's, its log's and the API's
(`{"detail": ...}` stays English, like every JSON key), and the store does not know who reads them.
The page knows its reader's language, so it words the message at the last moment. The rules live in
`minewatch.messages_zh`, shared with the CLI, so the browser and the terminal say the same thing;
this module keeps the web's name for it. A message no rule knows is shown as it is.

Checks that only the web makes (the upload form's meter options) raise `Worded`, which carries its
own Chinese: they have no CLI twin to share a catalogue rule with.
"""

from __future__ import annotations

from minewatch.errors import InputError
from minewatch.messages_zh import say


class Worded(InputError):
    """An input error worded by the web layer in both languages: the API answers the English
    (`message`), a page shows `zh` to a Chinese reader."""

    def __init__(self, message: str, zh: str, **where: object) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.zh = zh


def localise(message: str, lang: str) -> str:
    """`message` for a reader of `lang`: as it is in English, in Chinese where a rule knows it."""
    return say(message, lang if lang == "zh" else "en")


def localise_error(e: Exception, lang: str) -> str:
    """An exception for a reader of `lang`: a `Worded` error in its own Chinese, others by the rules."""
    if lang == "zh" and isinstance(e, Worded):
        return e.zh
    return localise(str(e), lang)


__all__ = ["Worded", "localise", "localise_error"]
