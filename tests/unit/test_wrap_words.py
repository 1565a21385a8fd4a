"""Messages wrap between words at the terminal's width: keys, URLs, paths and hyphenated
names stay whole, and so do the spans a reader must not see split."""

from __future__ import annotations

from igest_sync.render.console import wrap_words

MESSAGE = (
    "The Jumpseller credentials were refused; check jumpseller.login and "
    "jumpseller.auth_token in ~/.config/igest-sync/config.toml; run igest-sync "
    "check after changing them. Rotating the token may help old secrets stop working "
    "(total 36.78 EUR (VAT included), [invoice.exemptions] domestic_goods, "
    "http://127.0.0.1:9/v1: connection refused)."
)


def test_wrapped_at_80_between_words_only():
    text = wrap_words(MESSAGE, 79, first="error: ", rest="  ")
    lines = text.splitlines()
    assert lines[0].startswith("error: ") and all(line.startswith("  ") for line in lines[1:])
    assert all(len(line) <= 79 for line in lines)
    words = text.split()
    for whole in (
        "jumpseller.auth_token",
        "~/.config/igest-sync/config.toml;",
        "igest-sync",
        "http://127.0.0.1:9/v1:",
    ):
        assert whole in words, whole
    flat = " ".join(line.strip() for line in lines)
    assert flat.removeprefix("error: ") == MESSAGE
    for span in ("(VAT included)", "[invoice.exemptions] domestic_goods"):
        assert any(span in line for line in lines), span


def test_a_list_keeps_its_indent_and_items_align():
    text = wrap_words("Configuration: 2 problems\n  - " + "word " * 30, 40)
    lines = text.splitlines()
    assert lines[1].startswith("  - ") and lines[2].startswith("    word")
