#!/usr/bin/env python3
"""Checks a DMARC aggregate report (standard input) against the structure
RFC 9990 Appendix A's schema gives: the namespace, every required element
in its order, the enumerations. Written from the RFC's text for the
e2e test; exits non-zero naming the first thing that is wrong.

Standard library only, so the test runs wherever Python 3.11 is.
"""

import sys
import xml.etree.ElementTree as ET

NS = "urn:ietf:params:xml:ns:dmarc-2.0"
DISPOSITION = {"none", "quarantine", "reject"}
ALIGNED = {"pass", "fail"}
DKIM = {"none", "pass", "fail", "policy", "neutral", "temperror", "permerror"}
SPF = {"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"}
REASONS = {"local_policy", "mailing_list", "other", "policy_test_mode", "trusted_forwarder"}


class Bad(Exception):
    pass


def children(el, spec, where):
    """spec: (name, min, max, check); children must come in this order."""
    kids = list(el)
    i = 0
    for name, lo, hi, check in spec:
        n = 0
        while i < len(kids) and kids[i].tag == f"{{{NS}}}{name}":
            if check:
                check(kids[i], f"{where}/{name}")
            i += 1
            n += 1
        if n < lo or (hi is not None and n > hi):
            raise Bad(f"{where}: {n} <{name}>, expected {lo}..{hi if hi is not None else 'n'}")
    if i < len(kids):
        raise Bad(f"{where}: unexpected <{kids[i].tag}> at position {i}")


def text(allowed=None, integer=False):
    def check(el, where):
        t = (el.text or "").strip()
        if not t:
            raise Bad(f"{where}: empty")
        if allowed is not None and t not in allowed:
            raise Bad(f"{where}: {t!r} not one of {sorted(allowed)}")
        if integer and not t.isdigit():
            raise Bad(f"{where}: {t!r} is not a number")
    return check


def nested(spec):
    return lambda el, where: children(el, spec, where)


METADATA = [
    ("org_name", 1, 1, text()),
    ("email", 1, 1, text()),
    ("extra_contact_info", 0, 1, None),
    ("report_id", 1, 1, text()),
    ("date_range", 1, 1, nested([("begin", 1, 1, text(integer=True)), ("end", 1, 1, text(integer=True))])),
    ("error", 0, None, None),
    ("generator", 0, 1, None),
]
PUBLISHED = [
    ("domain", 1, 1, text()),
    ("p", 1, 1, text(DISPOSITION)),
    ("sp", 0, 1, text(DISPOSITION)),
    ("np", 0, 1, text(DISPOSITION)),
    ("adkim", 0, 1, text({"r", "s"})),
    ("aspf", 0, 1, text({"r", "s"})),
    ("discovery_method", 0, 1, text({"psl", "treewalk"})),
    ("testing", 0, 1, text({"n", "y"})),
    ("fo", 0, 1, None),
]
ROW = [
    ("source_ip", 1, 1, text()),
    ("count", 1, 1, text(integer=True)),
    (
        "policy_evaluated",
        1,
        1,
        nested(
            [
                ("disposition", 1, 1, text(DISPOSITION)),
                ("dkim", 1, 1, text(ALIGNED)),
                ("spf", 1, 1, text(ALIGNED)),
                ("reason", 0, None, nested([("type", 1, 1, text(REASONS)), ("comment", 0, 1, None)])),
            ]
        ),
    ),
]
IDENTIFIERS = [
    ("envelope_to", 0, 1, None),
    ("envelope_from", 0, 1, None),
    ("header_from", 1, 1, text()),
]
AUTH = [
    (
        "dkim",
        0,
        None,
        nested(
            [
                ("domain", 1, 1, text()),
                ("selector", 1, 1, text()),
                ("result", 1, 1, text(DKIM)),
                ("human_result", 0, 1, None),
            ]
        ),
    ),
    (
        "spf",
        1,
        1,
        nested(
            [
                ("domain", 1, 1, text()),
                ("scope", 0, 1, text({"helo", "mfrom"})),
                ("result", 1, 1, text(SPF)),
                ("human_result", 0, 1, None),
            ]
        ),
    ),
]
RECORD = [
    ("row", 1, 1, nested(ROW)),
    ("identifiers", 1, 1, nested(IDENTIFIERS)),
    ("auth_results", 1, 1, nested(AUTH)),
    ("extensions", 0, 1, None),
]
FEEDBACK = [
    ("version", 0, 1, text({"1.0"})),
    ("report_metadata", 1, 1, nested(METADATA)),
    ("policy_published", 1, 1, nested(PUBLISHED)),
    ("extensions", 0, 1, None),
    ("record", 1, None, nested(RECORD)),
]


def main():
    root = ET.fromstring(sys.stdin.buffer.read())
    if root.tag != f"{{{NS}}}feedback":
        raise Bad(f"root is {root.tag}, not {{{NS}}}feedback")
    children(root, FEEDBACK, "feedback")


if __name__ == "__main__":
    try:
        main()
    except (Bad, ET.ParseError) as e:
        print(e, file=sys.stderr)
        sys.exit(1)
