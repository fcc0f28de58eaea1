"""Ticket text: subjects, descriptions and tags per category, assembled column-wise in Arrow.

Fragments (greeting, body with an invoice/order reference, classification keywords such as
refund, chargeback, lawsuit, GDPR, outage, and sentiment sentences) are picked per ticket with
numpy indexes and joined with ``pyarrow.compute`` — no per-ticket Python string work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from deskpulse.sample import profile as P

#: Per category (profile.CATEGORIES order), topics: (subjects, body). A body is
#: (text before the reference, reference kind, text after it); reference kinds: 0 none,
#: 1 invoice number, 2 order number, 3 error/account code. A ticket's subject and body come from
#: the same topic, so they tell the same story.
Body = tuple[str, int, str]
TOPICS: tuple[tuple[tuple[tuple[str, ...], Body], ...], ...] = (
    (  # billing
        (("Charged twice this month", "Double charge on my card"),
         ("I was billed twice for invoice INV-", 1, " and need one charge reversed.")),
        (("Wrong amount on invoice", "Question about my latest invoice"),
         ("The amount on invoice INV-", 1, " does not match our plan.")),
        (("Payment failed but money was taken",),
         ("My card was charged but invoice INV-", 1, " still shows as unpaid.")),
        (("Unexpected charge on my card", "What is this charge?"),
         ("Could you explain the extra line items on our latest invoice?", 0, "")),
        (("Billed the old price", "Plan change not reflected on invoice"),
         ("We changed plans last month but were billed the old price.", 0, "")),
    ),
    (  # technical
        (("Cannot connect to the API", "API errors since this morning"),
         ("Since this morning every request returns error ", 3, " and our sync is stuck.")),
        (("Integration stopped working", "Sync keeps failing"),
         ("The integration fails with code ", 3, " after the last update.")),
        (("Slow dashboard loading", "Dashboards time out"),
         ("Our dashboards time out for all users in the team.", 0, "")),
        (("Webhook deliveries failing", "No webhooks received"),
         ("Webhooks stopped arriving about two hours ago, nothing changed on our side.", 0, "")),
        (("SSO login broken for our team", "Token rejected"),
         ("The API rejects valid tokens with error ", 3, ".")),
    ),
    (  # account
        (("Locked out of my account", "Password reset email not arriving"),
         ("I cannot log in and the password reset link never arrives.", 0, "")),
        (("Change account owner", "Transfer account ownership"),
         ("Please transfer ownership of account ACC-", 3, " to my colleague.")),
        (("Two-factor authentication lost phone", "Lost my 2FA device"),
         ("I lost the phone with my authenticator app and I am locked out.", 0, "")),
        (("Add new users to our account", "Need more seats"),
         ("We need to add three new users to our workspace.", 0, "")),
    ),
    (  # shipping
        (("Where is my order?", "Shipping delay"),
         ("My order #", 2, " has not moved for a week.")),
        (("Package marked delivered but not received",),
         ("Tracking for order #", 2, " says delivered but nothing arrived.")),
        (("Damaged parcel", "Item arrived broken"),
         ("Order #", 2, " arrived damaged, the box was crushed.")),
        (("Wrong item delivered", "Return label request"),
         ("I received the wrong item for order #", 2, ".")),
    ),
    (  # feature_request
        (("Feature request: dark mode", "Please add CSV export", "Idea: bulk editing"),
         ("It would be great to have this in the product, our team asks for it weekly.", 0, "")),
        (("Suggestion for the reports page", "Request: more granular permissions"),
         ("We would love more flexibility here.", 0, "")),
        (("Calendar integration idea", "Would love a mobile app widget"),
         ("A small improvement that would save us a lot of time.", 0, "")),
    ),
    (  # bug
        (("Button does nothing on checkout page", "Save button broken"),
         ("When I click save nothing happens, the console shows error ", 3, ".")),
        (("Report shows wrong totals", "Monthly report totals wrong"),
         ("The totals in the monthly report are wrong since the update.", 0, "")),
        (("App crashes on startup", "Desktop app crash"),
         ("The app crashes right after login on version 4.", 3, " of the desktop client.")),
        (("Bug: duplicate notifications", "Every notification arrives twice"),
         ("Every notification arrives twice for all our users.", 0, "")),
    ),
    (  # privacy
        (("GDPR data access request", "Request a copy of my data"),
         ("Under GDPR I request a copy of all personal data you hold about me.", 0, "")),
        (("Please delete my personal data", "Unsubscribe and erase my data"),
         ("Please erase my personal data and confirm when done.", 0, "")),
        (("Data processing agreement", "Question about data retention"),
         ("Our legal team needs your data processing agreement.", 0, "")),
    ),
    (  # cancellation
        (("Cancel my subscription", "Cancel auto-renewal", "Stop billing me"),
         ("Please cancel my subscription at the end of the current period.", 0, "")),
        (("Cancel order before it ships",),
         ("I want to cancel my order #", 2, " before it ships.")),
        (("Please close my account", "Downgrade my plan"),
         ("We are moving to another tool, please close our account.", 0, "")),
    ),
)
#: Classification keyword sentences per category (index 0 of each list is "none").
KEYWORDS: tuple[tuple[tuple[str, str], ...], ...] = (
    ((" I want a refund.", "refund"),
     (" If this is not fixed I will file a chargeback with my bank.", "chargeback"),
     (" Please refund the duplicate charge.", "refund")),
    ((" Is there an outage? Everything looks broken.", "outage"),
     (" This is broken for our whole company.", "broken")),
    ((" I need access urgently.", "urgent"),),
    ((" I want a refund for this order.", "refund"),
     (" This is the second parcel from you that arrives broken.", "broken")),
    ((" Happy to share more details.", ""),),
    ((" It is completely broken for us.", "broken"),
     (" This blocks our release, it is urgent.", "urgent")),
    ((" This is a formal GDPR request, please respond within 30 days.", "gdpr"),
     (" I expect this to be handled under GDPR.", "gdpr")),
    ((" Please cancel immediately and refund the rest of the month.", "refund"),
     (" I want to cancel today.", "cancel")),
)
KEYWORD_SHARE: tuple[float, ...] = (0.45, 0.35, 0.2, 0.3, 0.1, 0.35, 0.7, 0.5)
LEGAL_SENTENCE = " Our lawyer is reviewing this and we are considering a lawsuit."
INCIDENT_SUBJECTS: tuple[str, ...] = (
    "Outage? Nothing loads", "Service down for our team", "Is there an outage right now?",
    "API returning 503 errors", "Everything is broken since 10 minutes", "Cannot log in - outage?",
)
INCIDENT_BODY = "Your service seems to be down, we get errors on every page. Is there an outage?"
GREETINGS: tuple[str, ...] = ("", "Hi! ", "Hello. ", "Hi team! ", "Hello support. ", "Good morning. ")
NEGATIVE: tuple[str, ...] = (
    " I am really frustrated and angry about this.", " This is unacceptable.",
    " Very disappointed with the service lately.", " Terrible experience so far.",
)
POSITIVE: tuple[str, ...] = (
    " Thanks in advance, you have always been great!", " I really appreciate your help.",
    " Love the product otherwise!", " Your support has always been great.",
)
SIGNOFFS: tuple[str, ...] = ("", " Thanks.", " Regards.", " Best regards.", " Thank you.")
SPAM_SUBJECTS: tuple[str, ...] = ("You have won a prize", "Cheap watches!!!", "SEO services offer")
SPAM_BODY = "Click here to claim your reward now."


@dataclass(frozen=True)
class TicketText:
    """Text columns of the tickets plus per-ticket facts the lifecycle needs."""

    subject: pa.Array
    description: pa.Array
    tags: pa.Array  # initial tags (space separated)
    tags_escalated: pa.Array  # the same plus "escalated"
    sentiment: NDArray[np.int8]  # -1 negative, 0 neutral, 1 positive


def _choose(rng: np.random.Generator, options: Sequence[Sequence[str]],
            category: NDArray[np.int64]) -> tuple[pa.Array, NDArray[np.int64]]:
    """For each ticket one option of its group (``category`` indexes ``options``): the flat
    option array and indexes into it."""
    flat = [o for opts in options for o in opts]
    counts = np.asarray([len(opts) for opts in options], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = offsets[category] + (rng.random(len(category)) * counts[category]).astype(np.int64)
    return pa.array(flat, pa.string()), pick


def _take(values: Sequence[str], index: NDArray[np.int64]) -> pa.Array:
    return pc.take(pa.array(list(values), pa.string()), pa.array(index))


def build_text(
    rng: np.random.Generator,
    category: NDArray[np.int8],
    priority: NDArray[np.int8],
    channel: NDArray[np.int8],
    incident: NDArray[np.bool_],
    spam: NDArray[np.bool_],
    vip: NDArray[np.bool_],
    agent_created: NDArray[np.bool_],
) -> TicketText:
    """Subjects, descriptions and initial tags for every ticket."""
    n = len(category)
    cat = category.astype(np.int64)
    topic_counts = np.asarray([len(t) for t in TOPICS], dtype=np.int64)
    topic_offsets = np.concatenate([[0], np.cumsum(topic_counts)[:-1]])
    topic = topic_offsets[cat] + (rng.random(n) * topic_counts[cat]).astype(np.int64)
    flat_topics = [t for topics in TOPICS for t in topics]
    subject_opts, subject_pick = _choose(rng, [subjects for subjects, _ in flat_topics], topic)
    subject = pc.take(subject_opts, pa.array(subject_pick))
    bodies = [body for _, body in flat_topics]
    before = _take([b[0] for b in bodies], topic)
    after = _take([b[2] for b in bodies], topic)
    ref_kind = np.asarray([b[1] for b in bodies], dtype=np.int64)[topic]
    ref_number = np.where(
        ref_kind == 1, rng.integers(100000, 999999, n),
        np.where(ref_kind == 2, rng.integers(1000000, 9999999, n), rng.integers(100, 999, n)),
    )
    ref = pc.cast(pa.array(ref_number), pa.string())
    ref = pc.if_else(pa.array(ref_kind == 0), pa.scalar("", pa.string()), ref)

    kw_flat = [k for kws in KEYWORDS for k in kws]
    kw_counts = np.asarray([len(k) for k in KEYWORDS], dtype=np.int64)
    kw_offsets = np.concatenate([[0], np.cumsum(kw_counts)[:-1]])
    kw_pick = kw_offsets[cat] + (rng.random(n) * kw_counts[cat]).astype(np.int64)
    has_kw = rng.random(n) < np.asarray(KEYWORD_SHARE)[cat]
    kw_sentence = pc.if_else(pa.array(has_kw), _take([k[0] for k in kw_flat], kw_pick), "")
    kw_tag_code = np.where(has_kw & ~incident, kw_pick, -1)
    legal = (rng.random(n) < 0.012) & np.isin(cat, (0, 6, 7))
    legal_sentence = pc.if_else(pa.array(legal), LEGAL_SENTENCE, "")

    negative_p = 0.16 + 0.12 * np.isin(cat, (0, 7)) + 0.2 * (priority <= 1) + 0.25 * incident
    u = rng.random(n)
    sentiment = np.where(u < negative_p, -1, np.where(u > 0.72, 1, 0)).astype(np.int8)
    neg = _take(NEGATIVE, rng.integers(0, len(NEGATIVE), n))
    pos = _take(POSITIVE, rng.integers(0, len(POSITIVE), n))
    mood = pc.if_else(pa.array(sentiment < 0), neg, pc.if_else(pa.array(sentiment > 0), pos, ""))
    urgent_word = (priority == 0) & (rng.random(n) < 0.5)
    urgent_sentence = pc.if_else(pa.array(urgent_word), " This is urgent.", "")
    greeting = _take(GREETINGS, rng.integers(0, len(GREETINGS), n))
    signoff = _take(SIGNOFFS, rng.integers(0, len(SIGNOFFS), n))

    description = pc.binary_join_element_wise(
        greeting, before, ref, after, kw_sentence, legal_sentence, urgent_sentence, mood, signoff, ""
    )
    incident_subject = _take(INCIDENT_SUBJECTS, rng.integers(0, len(INCIDENT_SUBJECTS), n))
    subject = pc.if_else(pa.array(incident), incident_subject, subject)
    description = pc.if_else(
        pa.array(incident),
        pc.binary_join_element_wise(greeting, INCIDENT_BODY, mood, signoff, ""),
        description,
    )
    flag_subject = (urgent_word & (rng.random(n) < 0.6)) | ((priority == 1) & (rng.random(n) < 0.05))
    subject = pc.if_else(pa.array(flag_subject), pc.binary_join_element_wise("URGENT: ", subject, ""), subject)
    phone_note = agent_created & (channel == P.CHANNELS.index("phone"))
    subject = pc.if_else(pa.array(phone_note), pc.binary_join_element_wise("Phone call: ", subject, ""), subject)
    description = pc.if_else(
        pa.array(phone_note), pc.binary_join_element_wise("Call notes: ", description, ""), description
    )
    spam_arr = pa.array(spam)
    subject = pc.if_else(spam_arr, _take(SPAM_SUBJECTS, rng.integers(0, len(SPAM_SUBJECTS), n)), subject)
    description = pc.if_else(spam_arr, SPAM_BODY, description)

    # tags: category, keyword tag, legal, outage, vip (spam tickets: only "spam")
    kw_tags = [k[1] or None for k in kw_flat]
    kw_tag = pc.take(pa.array(kw_tags, pa.string()), pa.array(kw_tag_code, mask=kw_tag_code < 0))
    cat_tag = _take(P.CATEGORIES, cat)
    null = pa.scalar(None, pa.string())
    parts = [
        cat_tag,
        kw_tag,
        pc.if_else(pa.array(legal), "legal", null),
        pc.if_else(pa.array(incident), "outage", null),
        pc.if_else(pa.array(vip), "vip", null),
    ]
    tags = pc.binary_join_element_wise(*parts, " ", null_handling="skip")
    tags = pc.if_else(spam_arr, "spam", tags)
    tags_escalated = pc.binary_join_element_wise(tags, "escalated", " ")
    return TicketText(
        subject=subject,
        description=description,
        tags=tags,
        tags_escalated=tags_escalated,
        sentiment=sentiment,
    )
