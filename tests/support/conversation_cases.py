"""Two- and three-turn conversations over the seeds, shared by the terminal and Discord tests.

Each turn: the question, whether it is answered, whether it is read with the previous turn, words its
first quote must hold, and words its first quote must not hold (the quote just given, not repeated).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    question: str
    answered: bool = True
    follow_up: bool = False
    holds: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()


CONVERSATIONS: dict[str, tuple[Turn, ...]] = {
    "elliptical: in exchange for what": (
        Turn("How many hostages will be released in the first phase?", holds=("33 Israeli hostages",)),
        Turn("In exchange for what?", follow_up=True, holds=("2,000 Palestinian prisoners",)),
    ),
    "pronoun: what did he do": (
        Turn("Who is Steve Witkoff?", holds=("Witkoff",)),
        Turn("What did he do on Feb. 3?", follow_up=True, holds=("Witkoff", "Feb. 3")),
    ),
    "pronoun: what did he say, not the quote just given": (
        Turn("Who is Scott Lucas?", holds=("professor of international politics",)),
        Turn("What did he say about Trump?", follow_up=True, holds=("Lucas said",),
             lacks=("professor of international politics",)),
    ),
    "topic switch to an unanswerable question": (
        Turn("Who is David Khalfa?", holds=("Jean Jaures Foundation",)),
        Turn("What is the capital of France?", answered=False),
    ),
    "elliptical: and who": (
        Turn("When was the ceasefire agreement signed?", holds=("January 19",)),
        Turn("and who claimed credit for it?", follow_up=True, holds=("Trump", "claimed credit")),
    ),
    "elliptical: what about": (
        Turn("Who is the Finance Minister of Israel?", holds=("Bezalel Smotrich",)),
        Turn("what about the National Security Minister?", follow_up=True, holds=("Ben-Gvir",)),
    ),
    "three turns on one person": (
        Turn("Who is Bezalel Smotrich?", holds=("Smotrich",)),
        Turn("What does he want?", follow_up=True, holds=("want a second phase",)),
        Turn("and what does he urge Netanyahu to raise?", follow_up=True, holds=("raise the issue",)),
    ),
    "three turns, then a new unanswerable topic": (
        Turn("Who is Steve Witkoff?", holds=("Witkoff",)),
        Turn("What did he do on Feb. 3?", follow_up=True, holds=("brokering",)),
        Turn("Who painted the Mona Lisa?", answered=False),
    ),
    "bare when": (
        Turn("What did the ICC issue against Netanyahu?", holds=("arrest warrant",)),
        Turn("when?", follow_up=True, holds=("in November",)),
    ),
    "elliptical: and how many, the number just quoted is the answer": (
        Turn("How many Palestinian prisoners will be released?", holds=("2,000 Palestinian prisoners",)),
        Turn("and how many hostages?", follow_up=True, holds=("33 Israeli hostages",)),
    ),
    "a new self-contained question drops the old topic": (
        Turn("How many hostages will be released?", holds=("hostages",)),
        Turn("What is the ICC?", holds=("ICC",), lacks=("hostage",)),
    ),
    "what else did he add": (
        Turn("What did Trump say about the ceasefire on January 20?", holds=("I have no confidence",)),
        Turn("what else did he add?", follow_up=True, holds=("This is not our war",)),
    ),
}
