"""Chinese wording of the English error messages the store and the web layer raise, for the error page.

Why here and not at each `raise`: the store's messages are also the CLI's, its log's and the API's
(`{"detail": ...}` stays English, like every JSON key), and the store does not know who reads them.
The page knows its reader's language, so it words the message at the last moment. The rules live in
`minewatch.messages_zh`, shared with the CLI, so the browser and the terminal say the same thing;
this module keeps the web's name for it. A message no rule knows is shown as it is.
"""

from __future__ import annotations

from minewatch.messages_zh import say


def localise(message: str, lang: str) -> str:
    """`message` for a reader of `lang`: as it is in English, in Chinese where a rule knows it."""
    return say(message, lang if lang == "zh" else "en")


__all__ = ["localise"]
