"""Cleaning the text users write (display names, bios, post bodies) before it is stored.

Text is normalised to NFC, so one visible string has one stored form, and characters that
draw nothing or change how the text around them is drawn are refused rather than dropped:
controls (NUL, ANSI escapes), format characters (bidi overrides that make a name or a link
read backwards, zero-width spaces, tags that smuggle hidden ASCII), every other
Default_Ignorable code point (Unicode's list of characters that renderers draw as nothing:
the combining grapheme joiner, Hangul fillers, Khmer invisible vowels, unassigned specials
and tags, and code points reserved as ignorable but not assigned yet), lone surrogates
(which crash encoders), private-use characters, line and paragraph separators,
noncharacters, and more than MAX_MARKS combining marks in a row.
Refusing tells the client what was wrong; silently stripping would store something other
than what the user saw. Exceptions keep real writing working: ZWJ and ZWNJ between two
visible characters (emoji sequences such as 👨‍👩‍👧, Persian and Indic words), one emoji
variation selector after a base character (❤️, 1️⃣), one ideographic variation selector
after a CJK ideograph and one Mongolian free variation selector after a Mongolian letter
(each picks a glyph where it belongs, and elsewhere could only hide bytes), the three
subdivision flags (the only tag sequences Unicode recommends), and newline and tab in
multi-line fields.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from murmur.domain import InvalidInput

ZWNJ = "\u200c"
ZWJ = "\u200d"
_JOINERS = frozenset(ZWNJ + ZWJ)

# Symbols that draw as blank space: they may appear, but do not make a name visible (the
# Hangul fillers, blank too, are default-ignorable and refused outright).
BLANK_LOOKING = frozenset("\u2800")

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1): drawn as nothing, by
# design. Code points in these ranges that are not assigned yet are reserved as ignorable.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip

# Variation selectors pick a glyph for the character before them; in runs, or after a
# character they do not apply to, they are invisible bytes (one can encode a byte).
_EMOJI_SELECTORS = frozenset("\ufe0e\ufe0f")
_IDEOGRAPHIC_SELECTORS = frozenset([*map(chr, range(0xFE00, 0xFE0E)), *map(chr, range(0xE0100, 0xE01F0))])
_MONGOLIAN_SELECTORS = frozenset("\u180b\u180c\u180d\u180f")
_VARIATION_SELECTORS = _EMOJI_SELECTORS | _IDEOGRAPHIC_SELECTORS | _MONGOLIAN_SELECTORS

# Combining marks in a row: real writing stacks a few (Vietnamese 2, Tibetan and Hebrew
# cantillation up to about 5); hundreds are a "Zalgo" flood that draws over other lines.
MAX_MARKS = 8

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
            unicodedata.category(ch) in _REFUSED_CATEGORIES or _noncharacter(ch) or _default_ignorable(ch)
        ):
            return ch
    if contextual:
        last = len(text) - 1
        for i, ch in enumerate(text):
            if ch in _JOINERS:
                ok = 0 < i < last and _draws(text[i - 1]) and _draws(text[i + 1])
            elif ch in _VARIATION_SELECTORS:
                ok = i > 0 and _selects(ch, text[i - 1])
            else:
                continue
            if not ok:
                return ch
    return _mark_flood(text)


def _selects(selector: str, base: str) -> bool:
    """Whether a variation selector picks a glyph of the character before it."""
    if unicodedata.category(base).startswith("M") or not _draws(base):
        return False  # a run of selectors, or one after a mark: hidden bytes
    if selector in _EMOJI_SELECTORS:
        return True
    if selector in _MONGOLIAN_SELECTORS:
        return 0x1820 <= ord(base) <= 0x18AA
    return unicodedata.name(base, "").startswith("CJK ")


def _mark_flood(text: str) -> str | None:
    """The first combining mark past MAX_MARKS in a row, or None."""
    run = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch).startswith("M") else 0
        if run > MAX_MARKS:
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
    # as drawn: new emoji should not wait for a Python upgrade. Not those reserved as
    # ignorable, nor noncharacters.
    return unicodedata.category(ch) == "Cn" and not _noncharacter(ch) and not _default_ignorable(ch)


def _default_ignorable(ch: str) -> bool:
    cp = ord(ch)
    return any(low <= cp <= high for low, high in _DEFAULT_IGNORABLE)


def _noncharacter(ch: str) -> bool:
    cp = ord(ch)
    return 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")
