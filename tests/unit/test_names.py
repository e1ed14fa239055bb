"""Player names: protocol.md §1.1 "name" rule."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizd.game.names import NameError_, name_key, normalize_name


def test_name_is_trimmed():
    assert normalize_name("  Ann \t\n") == "Ann"


def test_name_is_nfc_normalised():
    decomposed = "Zoe\u0301"  # e + combining acute
    assert normalize_name(decomposed) == "Zo\u00e9"
    assert unicodedata.is_normalized("NFC", normalize_name(decomposed))


def test_empty_name_is_refused():
    with pytest.raises(NameError_):
        normalize_name("")


def test_blank_name_is_refused():
    with pytest.raises(NameError_):
        normalize_name("   \t ")


def test_one_code_point_is_enough():
    assert normalize_name("x") == "x"


def test_24_code_points_are_allowed():
    assert normalize_name("a" * 24) == "a" * 24


def test_25_code_points_are_refused():
    with pytest.raises(NameError_):
        normalize_name("a" * 25)


def test_length_counts_code_points_not_bytes():
    # 24 astral code points (4 UTF-8 bytes each, 2 UTF-16 units each)
    name = "\U0001f600" * 24
    assert normalize_name(name) == name


def test_length_is_counted_after_trimming():
    assert normalize_name("  " + "a" * 24 + "  ") == "a" * 24


def test_length_is_counted_after_nfc():
    # 24 precomposed characters written as 48 code points before NFC
    raw = "e\u0301" * 24
    assert normalize_name(raw) == "\u00e9" * 24


@pytest.mark.parametrize(
    ("char", "category"),
    [
        ("\x00", "Cc"),
        ("\x07", "Cc"),
        ("\x7f", "Cc"),
        ("\u200b", "Cf"),  # zero width space
        ("\u202e", "Cf"),  # right-to-left override
        ("\ue000", "Co"),  # private use
        ("\u0378", "Cn"),  # unassigned
    ],
)
def test_forbidden_category_is_refused(char, category):
    assert unicodedata.category(char) == category
    with pytest.raises(NameError_):
        normalize_name(f"An{char}n")


def test_lone_surrogate_is_refused():
    assert unicodedata.category("\ud800") == "Cs"
    with pytest.raises(NameError_):
        normalize_name("Ann\ud800")


def test_surrogateescape_bytes_are_refused():
    raw = b"Ann\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(NameError_):
        normalize_name(raw)


def test_inner_spaces_are_kept():
    assert normalize_name(" Ann  Lee ") == "Ann  Lee"


def test_non_latin_names_are_fine():
    assert normalize_name("Ελένη") == "Ελένη"
    assert normalize_name("山田") == "山田"


def test_key_is_case_insensitive():
    assert name_key("ANN") == name_key("ann")


def test_key_folds_fullwidth_forms():
    assert name_key("ＡＮＮ") == name_key("ann")


def test_key_casefolds_sharp_s():
    assert name_key("Straße") == name_key("STRASSE")


def test_key_folds_compatibility_ligature():
    assert name_key("\ufb01ona") == name_key("Fiona")  # "ﬁ" ligature


def test_key_keeps_distinct_names_distinct():
    assert name_key("Ann") != name_key("Anne")


@given(st.text(min_size=1, max_size=30))
def test_normalised_names_obey_every_rule(raw):
    try:
        name = normalize_name(raw)
    except NameError_:
        return
    assert name == name.strip()
    assert 1 <= len(name) <= 24
    assert unicodedata.is_normalized("NFC", name)
    assert not any(unicodedata.category(c) in {"Cc", "Cf", "Co", "Cs", "Cn"} for c in name)
