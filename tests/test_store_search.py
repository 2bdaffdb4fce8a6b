"""Full-text search: ranking, snippets, prefix and phrase queries, hostile input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tui.store import Store
from tui.store.search import plain_query


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open() as opened:
        sky = opened.create_conversation(title="Colours of the sky")
        opened.add_message(sky.id, "user", "Why is the sky blue during the day?")
        opened.add_message(sky.id, "assistant", "Rayleigh scattering: blue light scatters more.")
        bread = opened.create_conversation(title="Baking")
        opened.add_message(bread.id, "user", "How do I bake sourdough bread?")
        opened.add_message(
            bread.id, "assistant", "Feed the starter, then bake. Blue flames mean a hot oven."
        )
        notes = opened.create_conversation(title="Notes")
        opened.add_message(notes.id, "user", "blue blue blue, everything is blue")
        yield opened


def test_ranked_hits_with_highlighted_snippets(store: Store) -> None:
    hits = store.search("blue", start_mark="[", end_mark="]")
    assert len(hits) == 4
    assert hits[0].snippet.count("[blue]") == 4  # the densest message ranks first
    assert all("[blue]" in h.snippet.lower() for h in hits)
    assert [h.rank for h in hits] == sorted(h.rank for h in hits)
    assert all(h.message_id is not None and h.role in ("user", "assistant") for h in hits)


def test_titles_are_searched_and_highlighted(store: Store) -> None:
    hits = store.search("colours")
    assert len(hits) == 1
    hit = hits[0]
    assert hit.message_id is None and hit.role is None
    assert hit.title_highlighted == "**Colours** of the sky"
    assert hit.conversation_title == "Colours of the sky"


def test_prefix_phrase_and_boolean_queries(store: Store) -> None:
    assert {h.snippet for h in store.search("sourd*")} == {"How do I bake **sourdough** bread?"}
    phrase = store.search('"sky blue"')
    assert [h.snippet for h in phrase] == ["Why is the **sky blue** during the day?"]
    assert store.search('"blue sky"') == []
    assert len(store.search("blue AND oven")) == 1
    assert len(store.search("blue NOT oven")) == 3
    assert len(store.search("sourdough OR rayleigh")) == 2
    assert len(store.search("NEAR(blue day, 3)")) == 1


def test_diacritics_and_case_are_ignored(store: Store) -> None:
    conv = store.create_conversation(title="Paris")
    store.add_message(conv.id, "user", "Un café crème à Paris")
    assert len(store.search("CAFE creme")) == 1


HOSTILE = [
    '"',
    '"unbalanced quote',
    "*",
    "-",
    "-blue",
    "blue -",
    "NEAR",
    "NEAR(",
    "(",
    "blue)",
    "((blue",
    "AND",
    "blue AND",
    "OR OR",
    "NOT",
    "^",
    ":",
    "title:",
    "nosuchcolumn:blue",
    "{blue sky}",
    "blue + ",
    "C++",
    "a'b",
    "\x00",
    "🙂 blue",
    "blue*)*",
    '"sky" (NEAR -',
    "   ",
    "",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(store: Store, query: str) -> None:
    hits = store.search(query)
    assert isinstance(hits, list)


def test_hostile_queries_fall_back_to_plain_words(store: Store) -> None:
    assert len(store.search('blue) "oven')) == 1  # -> "blue" "oven"
    assert len(store.search('"sky (blue')) == 1
    assert len(store.search("sourd*)")) == 1  # the prefix survives the fallback
    assert plain_query('sky" (NEAR - blu*') == '"sky" "blu"*'
    assert plain_query("*-()") == ""


def test_search_pages_and_scopes_to_one_conversation(store: Store) -> None:
    everything = store.search("blue", limit=100)
    pages = store.search("blue", limit=2) + store.search("blue", limit=2, offset=2)
    assert [(h.conversation_id, h.message_id) for h in pages] == [
        (h.conversation_id, h.message_id) for h in everything
    ]
    sky_id = store.search("colours")[0].conversation_id
    scoped = store.search("blue", conversation_id=sky_id)
    assert {h.conversation_id for h in scoped} == {sky_id}
    assert len(scoped) == 2


def test_search_follows_edits_and_streams(store: Store) -> None:
    conv = store.create_conversation()
    writer = store.begin_assistant(conv.id, flush_interval=0)
    writer.append("zebras ")
    assert len(store.search("zebras")) == 1  # flushed text is searchable while streaming
    writer.append("gallop")
    writer.finish()
    assert store.search("zebras gallop")[0].message_id == writer.message_id
    store.rename_conversation(conv.id, "Savanna")
    assert store.search("savanna")[0].message_id is None
