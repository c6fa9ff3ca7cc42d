"""Alt-text clean-up rules (shared/docs/alt-text-rules.md, 'What good alt text looks like')."""

import pytest

from alttext.text import MAX_CHARS, clean_caption


@pytest.mark.parametrize(
    "words, expected",
    [
        ("a dog runs on the grass".split(), "A dog runs on the grass."),
        ("image of a dog".split(), "A dog."),
        ("a picture of two children".split(), "Two children."),
        ("photo of a man".split(), "A man."),
        ("graphic of a chart".split(), "A chart."),
        ("a dog a dog runs".split(), "A dog runs."),
        ("a man in in red".split(), "A man in red."),
        ("<start> a dog <unk> runs <end>".split(), "A dog runs."),
        (["<unk>"], ""),
        ([], ""),
    ],
)
def test_clean_caption(words, expected):
    assert clean_caption(words) == expected


def test_long_captions_are_cut_at_a_word():
    text = clean_caption(("a very long sentence about many different things " * 10).split())
    assert len(text) <= MAX_CHARS and text.endswith(".") and not text.endswith(" .")
    assert text[:-1] in ("a very long sentence about many different things " * 10).capitalize()
