"""The cleaner of user text (murmur/text.py): what it refuses, what it keeps, and properties
that hold for any input."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from murmur.domain import InvalidInput
from murmur.text import TextField, clean_text, has_visible, hidden_character

NAME = TextField(name="displayName", label="A display name", max_length=50)
BIO = TextField(name="bio", label="A bio", max_length=280, multiline=True, required=False)
BODY = TextField(name="body", label="A post", max_length=500, multiline=True)
FIELDS = [NAME, BIO, BODY]

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 👨‍👩‍👧
FIRE_HEART = "\u2764\ufe0f\u200d\U0001f525"  # ❤️‍🔥: a variation selector, then a joiner
TECHNOLOGIST = "\U0001f469\U0001f3fd\u200d\U0001f4bb"  # 👩🏽‍💻: a skin tone, then a joiner
KEYCAP_ONE = "1\ufe0f\u20e3"  # 1️⃣
WALES = "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"  # 🏴󠁧󠁢󠁷󠁬󠁳󠁿
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # می‌خواهم: ZWNJ inside a word
DEVANAGARI = "\u0915\u094d\u200d\u0937"  # क्‍ष: a half form asked for with ZWJ after a virama


def refused(value: str, field: TextField) -> str:
    """The message of the InvalidInput that `value` gets, checked to name `field`."""
    with pytest.raises(InvalidInput) as caught:
        clean_text(value, field)
    assert caught.value.field == field.name
    return caught.value.message


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
@pytest.mark.parametrize(
    ("value", "culprit"),
    [
        ("a\x00b", "U+0000"),  # NUL
        ("\x1b[31mred\x1b[0m", "U+001B"),  # ANSI colour
        ("abc\u202eexe.txt", "U+202E"),  # right-to-left override
        ("a\u202ab", "U+202A"),
        ("a\u2066b\u2069", "U+2066"),  # isolates
        ("a\u200fb", "U+200F"),  # right-to-left mark
        ("a\u200bb", "U+200B"),  # zero-width space, even between letters
        ("\ufeffhello", "U+FEFF"),  # byte order mark
        ("soft\u00adhyphen", "U+00AD"),
        ("tag\U000e0041\U000e0042", "U+E0041"),  # tag characters: hidden ASCII
        ("lone \ud800 surrogate", "U+D800"),
        ("private \ue000 use", "U+E000"),
        ("line\u2028separator", "U+2028"),
        ("para\u2029separator", "U+2029"),
        ("next\x85line", "U+0085"),
        ("delete\x7f", "U+007F"),
        ("nonchar\ufffe", "U+FFFE"),
        ("\u200dstarts", "U+200D"),  # a joiner must sit between two visible characters
        ("ends\u200c", "U+200C"),
        ("a\u200d\u200db", "U+200D"),
        ("a \u200d b", "U+200D"),
        ("a\ufe0f\ufe0f", "U+FE0F"),  # a run of variation selectors carries hidden bytes
        ("\ufe0fa", "U+FE0F"),
    ],
)
def test_hidden_and_control_characters_are_refused(value: str, culprit: str, field: TextField) -> None:
    message = refused(value, field)
    assert culprit in message and message.startswith(field.label)


@pytest.mark.parametrize("value", ["tab\there", "new\nline", "carriage\rreturn"])
def test_a_single_line_field_refuses_line_breaks_and_tabs(value: str) -> None:
    assert "U+00" in refused(value, NAME)


@pytest.mark.parametrize("field", [BIO, BODY], ids=lambda f: f.name)
def test_multi_line_fields_keep_newlines_and_tabs_and_unify_line_ends(field: TextField) -> None:
    assert clean_text("one\r\ntwo\rthree\n\tfour", field) == "one\ntwo\nthree\n\tfour"
    assert clean_text("\n  surrounded  \n\n", field) == "surrounded"


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
@pytest.mark.parametrize(
    "value",
    [FAMILY, FIRE_HEART, TECHNOLOGIST, KEYCAP_ONE, WALES, PERSIAN, DEVANAGARI, "日本語", "Zoë", "\U0001fae8"],
)
def test_real_writing_is_kept(value: str, field: TextField) -> None:
    assert clean_text(f"{value} ok", field) == f"{value} ok"


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_text_is_stored_composed(field: TextField) -> None:
    assert clean_text("Cafe\u0301 Ame\u0301lie", field) == "Caf\u00e9 Am\u00e9lie"


def test_length_is_counted_after_normalisation() -> None:
    decomposed = "e\u0301" * 50  # 100 code points in, 50 composed ones stored
    assert clean_text(decomposed, NAME) == "\u00e9" * 50
    assert "at most 50" in refused("\u00e9" * 51, NAME)
    assert clean_text(" " * 1000 + "x" * 500 + "\r\n" * 1000, BODY) == "x" * 500


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
@pytest.mark.parametrize("value", ["\u2800\u2800", "\u0301"])
def test_something_visible_is_required(value: str, field: TextField) -> None:
    assert "visible character" in refused(value, field)


def test_a_blank_looking_symbol_is_allowed_beside_visible_text() -> None:
    assert clean_text("\u2800Ada", NAME) == "\u2800Ada"


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
@pytest.mark.parametrize(
    "value",
    [
        "\u3164",  # Hangul filler: a letter that draws nothing
        "Ada\u115f\u1160",
        "\uffa0 Ada",
        "\u2065",  # reserved as ignorable, not assigned yet
        "\ufff0",
        "\U000e0080" * 10,
        "hi" + "".join(chr(0xE01F0 + ord(c)) for c in "secret"),  # hidden ASCII past the tags
        "A" + "\u034f" * 40,  # combining grapheme joiner
        "ok\u17b4\u17b5",  # Khmer vowels that draw nothing
        "\U0001d173music",  # musical formatting
    ],
    ids=[
        "hangul-filler",
        "choseong-jungseong-fillers",
        "halfwidth-filler",
        "u2065",
        "ufff0",
        "tags",
        "smuggled",
        "cgj",
        "khmer",
        "music",
    ],
)
def test_default_ignorable_characters_are_refused(value: str, field: TextField) -> None:
    """The outside review: these drew nothing and passed as visible text."""
    assert "invisible or control character" in refused(value, field)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("\u845b\U000e0100", True),  # 葛 with an ideographic variation selector: a glyph of it
        ("A\U000e0100", False),  # the same selector after a Latin letter hides a byte
        ("\u1820\u180b", True),  # a Mongolian letter and its free variation selector
        ("A\u180b", False),
        ("A\ufe00", False),  # a standardized selector after a letter it does not apply to
        ("\u2764\ufe0f", True),  # ❤️
    ],
)
def test_a_variation_selector_only_where_it_picks_a_glyph(value: str, kept: bool) -> None:
    if kept:
        assert clean_text(value, BODY) == value
    else:
        assert "invisible or control character" in refused(value, BODY)


def test_a_flood_of_combining_marks_is_refused() -> None:
    assert clean_text("e" + "\u0301\u0302" * 4, BODY)  # eight marks: real writing goes this far
    assert "invisible or control character" in refused("Zalgo" + "\u0301\u0336" * 5, BODY)


def test_display_names_collapse_whitespace_runs() -> None:
    assert clean_text("  Ada \u00a0  \u3000 Lovelace ", NAME) == "Ada Lovelace"


@pytest.mark.parametrize("value", ["", " \n\t ", "\u00a0\u3000\u2003"])
def test_only_a_bio_may_be_empty(value: str) -> None:
    assert clean_text(value, BIO) == ""  # clears the bio
    assert "empty" in refused(value, BODY)
    assert "empty" in refused(value.replace("\n", " ").replace("\t", " "), NAME)


# -- properties --------------------------------------------------------------------------

INTERESTING = [
    "\n", "\r", "\t", " ", "\u00a0", "\x00", "\x1b", "\u200b", "\u200c", "\u200d", "\u202e", "\u2066",
    "\ufeff", "\u00ad", "\ufe0f", "\u0301", "\u3164", "\u2800", "\U000e0067", "\U000e007f", "\ud800",
    "\ue000", "\u2028", "\ufffe", "e", "\u00e9", "\U0001f468", "\U0001f3f4", "\u0645", WALES, FAMILY,
]  # fmt: skip
# any code point (surrogates too), the ones the rules are about, and ordinary writing
TEXT = st.lists(
    st.one_of(
        st.sampled_from(INTERESTING),
        st.characters(exclude_categories=()),
        st.characters(categories=("L", "M", "N", "P", "S", "Zs")),
    ),
    max_size=40,
).map("".join)


def allowed_by_an_independent_reading(text: str, field: TextField) -> bool:
    """The rules read straight from Unicode categories, without the module's helpers."""
    text = text.replace(WALES, "\U0001f3f4")
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in "\u200c\u200d":
            if not (0 < i < len(text) - 1) or any(
                unicodedata.category(n) in {"Zs", "Cc", "Cf", "Cs", "Co"} for n in (text[i - 1], text[i + 1])
            ):
                return False
        elif category == "Cc":
            if not (field.multiline and ch in "\n\t"):
                return False
        elif category in {"Cf", "Cs", "Co", "Zl", "Zp"}:
            return False
    return True


@given(value=TEXT, field=st.sampled_from(FIELDS))
@example(value="e\u0301\u200d\U0001f468", field=BODY)
@example(value=" \u200d", field=NAME)
def test_whatever_comes_in_what_is_stored_is_clean(value: str, field: TextField) -> None:
    try:
        out = clean_text(value, field)
    except InvalidInput as error:
        assert error.field == field.name and error.message
        return
    assert unicodedata.normalize("NFC", out) == out
    assert hidden_character(out, multiline=field.multiline) is None
    assert allowed_by_an_independent_reading(out, field)
    assert "\r" not in out and out == (out.strip() if field.multiline else " ".join(out.split()))
    assert len(out) <= field.max_length
    assert has_visible(out) or (out == "" and not field.required)
    assert clean_text(out, field) == out  # idempotent: cleaning stored text changes nothing


HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


@given(value=TEXT)
def test_letters_and_digits_always_pass(value: str) -> None:
    # letters and digits, but the four Hangul fillers: letters that are default-ignorable
    plain = "".join(ch for ch in value if unicodedata.category(ch)[0] in "LN" and ch not in HANGUL_FILLERS)
    if has_visible(plain):
        assert clean_text(plain, BODY) == unicodedata.normalize("NFC", plain)
