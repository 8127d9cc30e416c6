"""Cleaning the text users write (display names, bios, post bodies) before it is stored.

Text is normalised to NFC, so one visible string has one stored form, and characters that
draw nothing or change how the text around them is drawn are refused rather than dropped:
controls (NUL, ANSI escapes), format characters (bidi overrides that make a name or a link
read backwards, zero-width spaces, tags that smuggle hidden ASCII), lone surrogates (which
crash encoders), private-use characters, line and paragraph separators and noncharacters.
Refusing tells the client what was wrong; silently stripping would store something other
than what the user saw. Exceptions keep real writing working: ZWJ and ZWNJ between two
visible characters (emoji sequences such as 👨‍👩‍👧, Persian and Indic words), one variation
selector after a base character (❤️, 1️⃣), the three subdivision flags (the only tag
sequences Unicode recommends), and newline and tab in multi-line fields.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from murmur.domain import InvalidInput

ZWNJ = "\u200c"
ZWJ = "\u200d"
_JOINERS = frozenset(ZWNJ + ZWJ)

# Letters and symbols that draw as blank space: they may appear, but do not make a name visible.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Variation selectors pick a glyph for the character before them; in runs they are invisible
# bytes (one selector can encode a byte), so only one is allowed, right after a base character.
_VARIATION_SELECTORS = frozenset(
    [*map(chr, range(0xFE00, 0xFE10)), *map(chr, range(0xE0100, 0xE01F0)), *"\u180b\u180c\u180d\u180f"]
)

# England, Scotland, Wales: black flag, tag letters, cancel tag. Any other tag character is hidden text.
_BLACK_FLAG = "\U0001f3f4"
_TAG_FLAGS = tuple(
    _BLACK_FLAG + "".join(chr(0xE0000 + ord(c)) for c in region) + "\U000e007f"
    for region in ("gbeng", "gbsct", "gbwls")
)

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_MULTILINE_CONTROLS = frozenset("\n\t")
_CONTEXTUAL = _JOINERS | _VARIATION_SELECTORS  # allowed or not by their neighbours


@dataclass(frozen=True, slots=True)
class TextField:
    """One field of user text and its rules."""

    name: str  # the argument InvalidInput names, as the API spells it
    label: str  # how messages speak of it: "A post"
    max_length: int  # in code points, after cleaning
    multiline: bool = False  # keeps newlines and tabs, strips the ends; else whitespace runs become one space
    required: bool = True  # else it may be empty (a bio may be cleared)


def clean_text(value: str, field: TextField) -> str:
    """The stored form of `value`, or InvalidInput naming `field`."""
    if field.multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", value)
    hidden = hidden_character(text, multiline=field.multiline)
    if hidden is not None:
        raise InvalidInput(
            f"{field.label} cannot contain the invisible or control character {_describe(hidden)}.",
            field=field.name,
        )
    text = text.strip() if field.multiline else " ".join(text.split())
    if not text:
        if field.required:
            raise InvalidInput(f"{field.label} cannot be empty.", field=field.name)
        return text
    if len(text) > field.max_length:
        raise InvalidInput(f"{field.label} is at most {field.max_length} characters.", field=field.name)
    if not has_visible(text):
        raise InvalidInput(f"{field.label} needs at least one visible character.", field=field.name)
    return text


def hidden_character(text: str, *, multiline: bool = False) -> str | None:
    """A character of `text` that the rules above refuse, or None."""
    if _BLACK_FLAG in text:  # a subdivision flag stands for its base: the tags in it are not hidden
        for flag in _TAG_FLAGS:
            text = text.replace(flag, _BLACK_FLAG)
    contextual = False
    # Categories are looked up once per distinct character: a 64 KiB body stays cheap.
    for ch in dict.fromkeys(text):
        if ch in _CONTEXTUAL:
            contextual = True
        elif not (multiline and ch in _MULTILINE_CONTROLS) and (
            unicodedata.category(ch) in _REFUSED_CATEGORIES or _noncharacter(ch)
        ):
            return ch
    if contextual:
        last = len(text) - 1
        for i, ch in enumerate(text):
            if ch in _JOINERS:
                ok = 0 < i < last and _draws(text[i - 1]) and _draws(text[i + 1])
            elif ch in _VARIATION_SELECTORS:
                ok = i > 0 and _draws(text[i - 1]) and not unicodedata.category(text[i - 1]).startswith("M")
            else:
                continue
            if not ok:
                return ch
    return None


def has_visible(text: str) -> bool:
    """Whether `text` draws something: a letter, digit, punctuation or symbol that is not blank."""
    return any(
        ch not in BLANK_LOOKING and (unicodedata.category(ch)[0] in "LNPS" or _unassigned(ch)) for ch in text
    )


def _draws(ch: str) -> bool:
    """Whether `ch` can sit next to a joiner: a visible character or a mark on one."""
    return unicodedata.category(ch)[0] in "LMNPS" or _unassigned(ch)


def _unassigned(ch: str) -> bool:
    # Code points this Python's Unicode tables do not know yet (emoji newer than them) count
    # as drawn: new emoji should not wait for a Python upgrade.
    return unicodedata.category(ch) == "Cn" and not _noncharacter(ch)


def _noncharacter(ch: str) -> bool:
    cp = ord(ch)
    return 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")
