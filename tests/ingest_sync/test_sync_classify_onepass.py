"""The one-pass phrase matcher (large tables, e.g. a file import) classifies exactly as the
rule-by-rule RE2 search does: on the built-in rules, on rules with overlapping, straddling,
non-word-edged and regex phrases, over random texts built from the phrases' pieces."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from deskpulse.ingest.sync.classify import load_rules, parse_rules

CUSTOM = {
    "rules": [
        # "to court" can start inside "how to" and run past it: the two go in different scans
        {"name": "howto", "any": ["how to", "to court", "court"], "set": {"urgency": "low"}},
        {"name": "edges", "any": ["#1", "c++", "e-mail", "re:"], "set": {"sentiment": "negative"}},
        {"name": "rx", "any": ["down"], "regex": [r"err(or)?\s*\d+"], "set": {"urgency": "high"}},
        {"name": "nested", "any": ["help", "please help", "help me please"],
         "unless": ["no help", "help me"], "set": {"urgency": "medium", "requires_action": True}},
        {"name": "word", "any": ["can't", "don't work", "non-urgent", "a_b"],
         "set": {"sentiment": "positive"}},
        {"name": "prio", "fields": {"priority": ["urgent"]}, "set": {"urgency": "high"}},
    ]
}


def _pieces(rules) -> list[str]:
    words: list[str] = []
    for r in rules.rules:
        for p in (*r.phrases, *r.unless_phrases):
            words.append(p)
            words.extend(p.split())
            words.append(p[: max(1, len(p) // 2)])
            words.append(p.upper())
    return words + ["x", "1", "_", "é", "ok", "to", "me", "please", "no", "tissue", "issue"]


def _texts(rules, n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    pieces = _pieces(rules)
    glue = [" ", " ", " ", "", "-", "'", ", ", "_", "\n", "é", ".", "9"]
    out = []
    for _ in range(n):
        k = rnd.randint(0, 8)
        out.append("".join(rnd.choice(pieces) + rnd.choice(glue) for _ in range(k)))
    return out


def _same(rules, texts: list[str], seed: int) -> None:
    rnd = random.Random(seed)
    n = len(texts)
    third = n // 3
    table = pa.table({
        "ticket_id": [str(i) for i in range(n)],
        "subject": texts[:third] + [None] * (n - third),
        "description": [None] * third + texts[third:],
        "tags": [rnd.choice([None, "vip", "help", "gdpr refund"]) for _ in range(n)],
        "priority": [rnd.choice([None, "urgent", "high", "normal"]) for _ in range(n)],
    })
    slow = rules.classify(table, one_pass=False)
    fast = rules.classify(table, one_pass=True)
    assert fast.equals(slow)


def test_builtin_rules_are_all_answered_in_one_pass():
    rules = load_rules()
    answered = set(rules._one_pass.implied)
    patterns = {p for r in rules.rules for p in (r.pattern, r.unless) if p is not None}
    assert patterns == answered


@pytest.mark.parametrize("seed", [1, 2])
def test_one_pass_equals_per_rule_search_builtin(seed):
    rules = load_rules()
    _same(rules, _texts(rules, 30_000, seed), seed)


def test_one_pass_equals_per_rule_search_custom():
    rules = parse_rules(CUSTOM, "custom.yml")
    one = rules._one_pass
    assert len(one.levels) == 2 and rules.rules[0].pattern in one.implied  # "to court"
    assert rules.rules[1].pattern not in one.implied  # phrases with non-word edges
    assert rules.rules[2].pattern not in one.implied  # a regex
    assert rules.rules[3].pattern in one.implied and rules.rules[3].unless in one.implied
    _same(rules, _texts(rules, 30_000, 3), 3)


def test_default_size_switch_gives_the_same_rows():
    rules = load_rules()
    texts = _texts(rules, 25_000, 4)
    table = pa.table({"ticket_id": [str(i) for i in range(len(texts))], "subject": texts})
    assert rules.classify(table).equals(rules.classify(table, one_pass=False))
