"""The name deny-list (quizd.game.denylist): the file's format and how a name is found
to hold a word (folding, look-alikes, separators, anywhere), with the coincidences
across two words of a name left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizd.game.denylist import DenyList, fold, fold_word, parse_denylist
from quizd.game.names import NameError_, NamePolicy, NamesMode

BAD = DenyList.of(["bad"])


# ------------------------------------------------------------------ the file
def test_file_one_word_a_line_with_comments_and_blank_lines() -> None:
    denylist = parse_denylist("# words we refuse\n\nbad\n  Worse  \nugly # since 2024\n#nope\n   \n")
    assert set(denylist.words) == {"bad", "worse", "ugly"}


def test_file_words_are_folded_deduplicated_and_empty_ones_dropped() -> None:
    denylist = parse_denylist("B4D\nbad\nＢＡＤ\n...\n- _\n")
    assert denylist.words == ("bad",)


def test_empty_file_refuses_nothing() -> None:
    denylist = parse_denylist("# only a comment\n\n")
    assert not denylist
    assert denylist.find("anything") is None


def test_longer_words_are_searched_first() -> None:
    assert parse_denylist("ab\nabc\n").words == ("abc", "ab")


# ------------------------------------------------------------------ folding
@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("0134 57@$", "oiea stas"),
        ("BaD", "bad"),
        ("ＢＡＤ", "bad"),  # full width
        ("Straße", "strasse"),  # casefold, not lower
        ("\u2460", "i"),  # circled digit one: NFKC makes it 1, then a look-alike
    ],
)
def test_fold_maps_case_width_and_lookalikes(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_word_drops_separators() -> None:
    assert fold_word(" b.a-d_\u2013x ") == "badx"


# ------------------------------------------------------------------ matching
@pytest.mark.parametrize(
    "name",
    [
        "bad",
        "BAD",
        "Bad Bob",
        "Bobbad",
        "xbadx",
        "b4d",
        "8 B@D 8",
        "ｂａｄ",
        "b.a.d",
        "b a d",
        "b-a-d",
        "b_a_d",
        "ba d",
        "b.ad",
        "my b.a.d name",
        "xb.a.d",
        "b.a.dx",
        "b\u2013a\u2013d",
        "b\u3000a\u3000d",
    ],
)
def test_names_holding_the_word_are_found(name: str) -> None:
    assert BAD.find(name) == "bad"


@pytest.mark.parametrize("name", ["Rob Adams", "Grab Adam", "Bob", "b.a", "ab.d", "Brave Otter", "bqad"])
def test_names_without_the_word_pass(name: str) -> None:
    assert BAD.find(name) is None


def test_a_word_across_two_words_counts_when_it_starts_or_ends_one() -> None:
    assert BAD.find("Lab Ad") == "bad"  # ends at the end of "Ad"
    assert BAD.find("Ba Dan") == "bad"  # starts at the start of "Ba"


def test_policy_refuses_with_reason_denied_and_can_be_swapped() -> None:
    policy = NamePolicy(NamesMode.BOTH, BAD)
    with pytest.raises(NameError_) as info:
        policy.refuse_denied("B.4.D")
    assert info.value.reason == "denied"
    policy.use(DenyList())
    policy.refuse_denied("B.4.D")


# ------------------------------------------------------------------ invariants
WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=2, max_size=6)
# Around the word: any text but marks, which would combine with the word's first or
# last letter into another letter (NFKC composes "d" and U+0307 into one).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Mn", "Mc", "Me")), max_size=8)
LOOKALIKE = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
SEPARATORS = st.sampled_from(["", "", ".", " ", "-", "_"])


def disguise(word: str, data: st.DataObject) -> str:
    """``word`` with some letters swapped for look-alikes, some in upper case or full
    width, and separators put between its letters."""
    out = []
    for i, ch in enumerate(word):
        form = data.draw(st.sampled_from(["plain", "upper", "wide", "lookalike"]))
        if form == "upper":
            ch = ch.upper()
        elif form == "wide":
            ch = chr(ord(ch) - ord("a") + 0xFF41)
        elif form == "lookalike":
            ch = LOOKALIKE.get(ch, ch)
        out.append(ch)
        if i < len(word) - 1:
            out.append(data.draw(SEPARATORS))
    return "".join(out)


@given(WORD, TEXT, TEXT, st.data())
def test_any_name_holding_a_disguised_word_is_refused(word: str, before: str, after: str, data: st.DataObject) -> None:
    # A spelled-out word stands apart from the rest of the name (a word glued to both
    # neighbours with a separator inside is the "Rob Adams" coincidence the module lets
    # pass); a word without separators is found glued to anything.
    disguised = disguise(word, data)
    spelled_out = len(disguised) > len(word)
    glue = " " if spelled_out else data.draw(st.sampled_from(["", " "]))
    name = before + glue + disguised + glue + after
    assert DenyList.of([word]).find(name) is not None


@given(WORD, TEXT, TEXT)
def test_a_plain_substring_is_always_refused(word: str, before: str, after: str) -> None:
    assert DenyList.of([word]).find(before + word + after) is not None


@given(TEXT)
def test_an_empty_denylist_refuses_nothing(name: str) -> None:
    assert DenyList().find(name) is None
