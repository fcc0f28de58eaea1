"""Classification rules (seed 004 Task 2 / Debug Task B): strong signals are high, negations
and thanks do not trigger, results are consistent, the YAML is validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskpulse.errors import ConfigError
from deskpulse.ingest.sync.classify import DEFAULT_RULES, load_rules, parse_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classification_rules.yml"


@pytest.mark.parametrize(("text", "urgency", "sentiment", "rule"), [
    ("I want a refund for this order", "high", "negative", "refund"),
    ("My bank opened a chargeback", "high", "negative", "chargeback"),
    ("Our lawyer will file a lawsuit", "high", "negative", "legal_threat"),
    ("We will take legal action", "high", "negative", "legal_threat"),
    ("We will sue you", "high", "negative", "legal_threat"),
    ("GDPR: delete my data", "high", "neutral", "gdpr"),
    ("URGENT: production down", "high", "negative", "urgent"),
    ("I am angry, this is unacceptable", "medium", "negative", "angry"),
    ("The export is broken", "medium", "negative", "broken"),
    ("Not urgent: how do I export?", "low", "neutral", "question"),
    ("Thanks for the refund, all good", "low", "positive", "positive"),
    ("There is an issue with my tissue order", "low", "neutral", "default"),  # no 'sue' inside words
    ("Great service, thank you", "low", "positive", "positive"),
])
def test_rules(text, urgency, sentiment, rule):
    got = load_rules().classify_one(subject=text)
    assert (got["urgency"], got["sentiment"], got["classified_by"]) == (urgency, sentiment, rule)
    if urgency == "high":
        assert got["requires_action"] is True


def test_field_rule_and_description_and_tags():
    r = load_rules()
    assert r.classify_one(subject="hello", priority="urgent")["urgency"] == "high"
    assert r.classify_one(subject="hello", description="where is my refund")["classified_by"] == "refund"
    assert r.classify_one(subject="hello", tags="gdpr vip")["urgency"] == "high"


def test_example_file_is_the_builtin_rules():
    assert EXAMPLE.read_text() == DEFAULT_RULES.read_text()


def test_edited_rules_file_is_reloaded(tmp_path):
    p = tmp_path / "rules.yml"
    p.write_text("rules:\n  - name: vip\n    any: [vip]\n    set: {urgency: high}\n")
    assert load_rules(p).classify_one(subject="VIP customer")["classified_by"] == "vip"


@pytest.mark.parametrize(("doc", "path"), [
    ({"rules": []}, "rules"),
    ({"rules": [{"name": "x", "set": {"urgency": "high"}}]}, "rules[0]"),
    ({"rules": [{"name": "x", "any": ["a"], "set": {"urgency": "extreme"}}]}, "rules[0].set.urgency"),
    ({"rules": [{"name": "x", "any": ["a"], "set": {"colour": "red"}}]}, "rules[0].set.colour"),
    ({"rules": [{"name": "x", "regex": ["(unclosed"], "set": {"urgency": "low"}}]}, "rules[0].any"),
    ({"rules": [{"name": "x", "any": ["a"], "set": {"urgency": "low"}},
                {"name": "x", "any": ["b"], "set": {"urgency": "low"}}]}, "rules[1].name"),
    ({"defaults": {"requires_action": "yes"}, "rules": [{"name": "x", "any": ["a"], "set": {"urgency": "low"}}]},
     "defaults.requires_action"),
])
def test_bad_rules_name_the_path(doc, path):
    with pytest.raises(ConfigError) as e:
        parse_rules(doc, "rules.yml")
    assert e.value.details["path"] == path and e.value.details["file"] == "rules.yml"
