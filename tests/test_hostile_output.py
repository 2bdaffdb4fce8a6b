"""Stored text never writes raw escape sequences to a terminal or an export (defect 1).

An answer, an imported conversation or a title can hold ``ESC ] 0 ; … ESC \\`` (set the
terminal title) or ``ESC ] 52 ; c ; … BEL`` (write the clipboard), or the 8-bit CSI U+009B.
Whatever prints stored text must show such characters visibly instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from hostile_helpers import burrow, raw_controls, text

from tui.store import Store

TITLE = "Pwned\x1b]0;HACKED TITLE\x1b\\ talk"
QUESTION = "Which colour?\x1b[2J"
ANSWER = (
    "Violet\x1b]52;c;ZWNobyBwd25lZA==\x07 is nice.\n"
    "Red\x9b31m sunsets\x9b0m too.\x1b[8m hidden\rOVERWRITE\x00\x7f end"
)


def seed() -> int:
    with Store.open() as store:
        conversation = store.create_conversation(title=TITLE, system_prompt="be\x1b]0;x\x07 kind")
        store.add_message(conversation.id, "user", QUESTION)
        store.add_message(conversation.id, "assistant", ANSWER)
        return conversation.id


def test_history_show_neutralises_control_characters(burrow_home: Path) -> None:
    """Defect 1: `burrow history show` printed the answer's ESC sequences raw."""
    conversation_id = seed()
    result = burrow(burrow_home, "history", "show", str(conversation_id))
    assert result.returncode == 0, text(result.stderr)
    assert raw_controls(result.stdout) == []
    shown = text(result.stdout)
    assert "^[" in shown  # visible, not silently dropped
    assert "Violet" in shown and "sunsets" in shown and "end" in shown


def test_history_list_neutralises_the_title(burrow_home: Path) -> None:
    """Defect 1: `burrow history list` printed a title's ESC ] 0 (set terminal title) raw."""
    seed()
    result = burrow(burrow_home, "history", "list")
    assert result.returncode == 0, text(result.stderr)
    assert raw_controls(result.stdout) == []
    assert "Pwned" in text(result.stdout)


def test_history_search_neutralises_snippets_and_titles(burrow_home: Path) -> None:
    """Defect 1: `burrow history search` printed snippets and titles with raw escapes."""
    seed()
    for query in ("Violet", "sunsets", "Pwned"):
        result = burrow(burrow_home, "history", "search", query)
        assert result.returncode == 0, text(result.stderr)
        assert raw_controls(result.stdout) == [], query
        assert "No matches" not in text(result.stdout)


def test_thought_search_neutralises_snippets(burrow_home: Path) -> None:
    with Store.open() as store:
        conversation = store.create_conversation(title=TITLE)
        store.add_message(conversation.id, "user", QUESTION)
        writer = store.begin_assistant(conversation.id, flush_interval=0)
        writer.append("", "Thinking of " + ANSWER)
        writer.append("Blue.")
        writer.finish()
    for args in (("Violet sunsets",), ("Violet", "--json")):
        result = burrow(burrow_home, "history", "search", "--thinking", *args)
        assert result.returncode == 0, text(result.stderr)
        assert raw_controls(result.stdout) == [], args
    shown = text(burrow(burrow_home, "history", "search", "--thinking", "violet").stdout)
    assert "(thinking)" in shown and "^[" in shown and "Violet" in shown
    plain = text(burrow(burrow_home, "history", "search", "Violet").stdout)
    assert "No matches" in plain  # the thought is not in the full-text index


def test_markdown_export_carries_no_raw_control_characters(
    burrow_home: Path, tmp_path: Path
) -> None:
    """Defect 1: the Markdown export wrote ESC sequences into the file (shown by `cat`)."""
    conversation_id = seed()
    out = tmp_path / "exports"
    result = burrow(
        burrow_home, "history", "export", str(conversation_id), "--format", "md", "--out", str(out)
    )
    assert result.returncode == 0, text(result.stderr)
    [file] = list(out.iterdir())
    assert raw_controls(file.read_bytes()) == []
    assert "Violet" in file.read_text(encoding="utf-8")


def test_json_export_file_escapes_every_control_and_keeps_the_text(
    burrow_home: Path, tmp_path: Path
) -> None:
    """Defect 1: the JSON export wrote U+009B raw into the file (`cat` of it acted on the
    terminal); escaped, it still imports back to the exact text."""
    conversation_id = seed()
    out = tmp_path / "exports"
    result = burrow(
        burrow_home,
        "history",
        "export",
        str(conversation_id),
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert result.returncode == 0, text(result.stderr)
    [file] = list(out.iterdir())
    assert raw_controls(file.read_bytes()) == []
    [conversation] = json.loads(file.read_text(encoding="utf-8"))["conversations"]
    assert conversation["title"] == TITLE
    assert [m["content"] for m in conversation["messages"]] == [QUESTION, ANSWER]


def test_json_output_escapes_c1_controls_and_keeps_the_text(burrow_home: Path) -> None:
    """Defect 1: `--json` escaped ESC but let U+009B (8-bit CSI) through raw."""
    conversation_id = seed()
    for args in (
        ("history", "show", str(conversation_id), "--json"),
        ("history", "list", "--json"),
        ("history", "search", "sunsets", "--json"),
    ):
        result = burrow(burrow_home, *args)
        assert result.returncode == 0, text(result.stderr)
        assert raw_controls(result.stdout) == [], args
        json.loads(result.stdout)  # still valid JSON
    shown = json.loads(
        burrow(burrow_home, "history", "show", str(conversation_id), "--json").stdout
    )
    # JSON is for programs: the exact text survives, only escaped.
    assert shown["messages"][1]["content"] == ANSWER
    assert shown["title"] == TITLE


def test_app_search_snippet_shows_no_raw_control_characters() -> None:
    """Defect 1: the history browser's search snippet carried the stored ESC sequences."""
    from tui.ui.widgets.history_results import END, START, highlighted

    seen = highlighted(f"x\x1b]52;c;AAAA\x07 {START}Violet{END} \x9b31m y")
    assert raw_controls(seen.plain.encode("utf-8")) == []
    assert "Violet" in seen.plain


async def test_app_message_view_shows_no_raw_control_characters() -> None:
    """Defect 1: a stored answer (or one streaming from the model) reached the terminal with
    its ESC sequences through the chat's Markdown body and the live tail."""
    from textual.app import App, ComposeResult
    from textual.widgets.markdown import MarkdownBlock

    from tui.ui.widgets.message_view import LiveTail, MessageData, MessageView

    class Shows(App[None]):
        def compose(self) -> ComposeResult:
            yield MessageView(MessageData(id=1, role="assistant", text=ANSWER))
            yield MessageView(MessageData(id=None, role="assistant", text=""))

    app = Shows()
    async with app.run_test() as pilot:
        stored, streaming = app.query(MessageView).results(MessageView)
        await streaming.append("Blue\x1b]0;TITLE\x07 and \x9b2J more")
        await pilot.pause()
        shown = [str(block.render()) for block in stored.query(MarkdownBlock)]
        shown.append(str(streaming.query_one(LiveTail).render()))
        assert any("Violet" in text for text in shown) and "Blue" in shown[-1]
        for text in shown:
            assert raw_controls(text.encode("utf-8")) == [], text


def test_models_list_shows_a_hostile_file_name_visibly(
    burrow_home: Path, smollm2_path: Path
) -> None:
    """Defect 1: a model file named with an escape sequence was printed raw by `burrow models`."""
    from tui import paths

    (paths.models_dir() / "evil\x1b]0;TITLE\x07.gguf").symlink_to(smollm2_path)
    result = burrow(burrow_home, "models")
    assert result.returncode == 0, text(result.stderr)
    assert raw_controls(result.stdout) == []
    assert "evil^[" in text(result.stdout)
