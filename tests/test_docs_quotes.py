"""End to end over a small Markdown corpus: the sentence that answers is quoted first, not a lead-in, a pointer
or a neighbour, and with the sentence before it when it leans on that one."""

from __future__ import annotations

import pytest

from retrieval.answer import AnswerSettings, answer
from retrieval.index import Index
from tests.support.corpus import indexed

PAGES = {
    "intents.md": (
        "# Gateway Intents\n\n"
        "## Privileged Intents\n\n"
        "With the API change requiring bot authors to specify intents, some intents were restricted further and "
        "require more manual steps. These intents are called privileged intents.\n\n"
        "A privileged intent is one that requires you to go to the developer portal and manually enable it. "
        "To enable privileged intents do the following:\n\n"
        "1. Make sure you're logged on to the Discord website.\n"
        "2. Navigate to the application page.\n"
        "3. Click on the bot you want to enable privileged intents for.\n"
    ),
    "settings.md": (
        "# Settings\n\n"
        "## Reading a .env file\n\n"
        "If you have many settings that possibly change a lot, it might be useful to put them on a file. "
        "Here we define the config env_file inside of your Settings class, and set the value to the filename "
        "with the dotenv file we want to use. You can read more at Pydantic Settings: Dotenv (.env) support.\n"
    ),
    "responses.md": (
        "# Custom Response\n\n"
        "## RedirectResponse\n\n"
        "Returns an HTTP redirect. In this case, the status_code used will be the default one for the "
        "RedirectResponse, which is 307. Uses a 307 status code (Temporary Redirect) by default.\n"
    ),
    "events.md": (
        "# Event Reference\n\n"
        "## on_reaction_add\n\n"
        "Called when a message has a reaction added to it. Similar to on_message_edit(), if the message is not "
        "found in the internal message cache, then this event will not be called. Consider using "
        "on_raw_reaction_add() instead.\n\n"
        "## on_message_edit\n\n"
        "Called when a Message receives an update event. If the message is not found in the internal message "
        "cache, then these events will not be called. Messages might not be in cache if the message is too old.\n"
    ),
}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Index:
    return indexed(tmp_path_factory.mktemp("docs"), PAGES)


@pytest.mark.parametrize(("question", "expected"), [
    ("what makes an intent 'privileged'?", "A privileged intent is one that requires you"),  # a definition
    ("how do i make settings read from a .env file?", "Here we define the config env_file"),  # not the pointer
    ("RedirectResponse uses which status code if i don't pass one?", "by default"),  # the stated default
    # the sentence that answers names no word of the question: quoted with the one it goes on from
    ("which event should i use for reactions on old messages that aren't in the cache?",
     "Consider using on_raw_reaction_add() instead."),
])
def test_the_sentence_that_answers_is_quoted_first(docs: Index, question: str, expected: str) -> None:
    result = answer(docs, question, (), AnswerSettings(min_confidence=0.0))
    assert result.quotes and expected in result.quotes[0].text, [q.text for q in result.quotes]
