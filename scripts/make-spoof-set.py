#!/usr/bin/env python3
"""Make the brand's-own-address spoof set of issue 21 from the development corpus.

    scripts/make-spoof-set.py [CORPUS] --out DIR [--mapping TSV]

CORPUS defaults to ../shared/corpus beside the repository. For every row of
the mapping (tests/data/spoof-brands.tsv) the corpus message is copied to DIR
with only the address inside its From header's <...> replaced: the display
name, every other header and the body stay byte for byte, so the set measures
the one thing the issue is about (a protected brand's own address in From).

DIR gets the messages, `labels.tsv` in the layout `kinko-milter eval` reads
(file, label, then columns eval ignores: brand, from, from_domain,
policy_domain, source) and `domains.txt`, the From domains one a line, for the
DNS zone an online test serves (SPF `-all` failing the sender; DMARC `p=none`
or no record).

Standard library only, so a test can run it wherever Python 3.11 is.
"""

import argparse
import collections
import email
import email.policy
import email.utils
import pathlib
import re
import sys
import tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
POLICIES = ["jp-financial.toml", "global-brands.toml", "jp-services.toml"]
# The corpus labels whose rows the mapping may draw from: the Japanese
# phishing, and (should a later corpus have too few) the hand-sorted
# credential phishing of tests/data/phish-classes.tsv.
SOURCE_LABELS = {"jp-phish", "phish", "phish-credential"}
LABEL = "jp-phish"

# A header field with its folded continuation lines; the header block ends at
# the first empty line (CRLF or LF, as the message has it).
FROM_FIELD = re.compile(rb"(?im)^from:[^\n]*(?:\n[ \t][^\n]*)*")
HEADER_END = re.compile(rb"\r?\n\r?\n")


def fail(msg):
    sys.exit(f"make-spoof-set: {msg}")


def brand_domains(policy_dir):
    out = {}
    for name in POLICIES:
        with open(policy_dir / name, "rb") as f:
            for brand in tomllib.load(f).get("brand", []):
                out[brand["id"]] = [d.lower() for d in brand.get("domains", [])]
    return out


def under(domain, official):
    return domain == official or domain.endswith("." + official)


def read_mapping(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if cols[0] == "file":
                continue
            if len(cols) < 5:
                fail(f"{path}:{n}: want file, brand, from, from_domain, policy_domain[, note]")
            rows.append((n, *cols[:5]))
    return rows


def corpus_labels(corpus):
    labels = {}
    with open(corpus / "labels.tsv", encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                labels[cols[0]] = cols[1]
    return labels


def rewrite_from(raw, addr):
    """The message with the address of its single From field replaced."""
    end = HEADER_END.search(raw)
    head_len = end.start() if end else len(raw)
    fields = list(FROM_FIELD.finditer(raw[:head_len]))
    if len(fields) != 1:
        raise ValueError(f"{len(fields)} From fields")
    field = fields[0]
    value = field.group(0)
    brackets = list(re.finditer(rb"<[^<>]*>", value))
    new = addr.encode("ascii")
    if brackets:
        # The last <...> is the address; anything before it is the display
        # name, kept exactly as the phisher encoded it.
        b = brackets[-1]
        name = value[len(b"From:") : b.start()]
        if b"@" in name and b'"' not in name and b"=?" not in name:
            # A display name that is itself a bare address ("x@evil <y@evil>")
            # reads as a second address once the real one changes; quoting it
            # keeps its text and leaves one address to judge.
            name = b' "' + name.strip() + b'" '
        value = value[: len(b"From:")] + name + b"<" + new + b">" + value[b.end() :]
    else:
        value = b"From: " + new
    return raw[: field.start()] + value + raw[field.end() :]


def check_parsed(data, addr):
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    froms = msg.get_all("From") or []
    got = email.utils.parseaddr(str(froms[0]) if froms else "")[1]
    if len(froms) != 1 or got.lower() != addr.lower():
        raise ValueError(f"From reads back as {got!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--out", required=True, help="folder for the messages and labels.tsv")
    ap.add_argument("--mapping", default=str(REPO / "tests" / "data" / "spoof-brands.tsv"))
    ap.add_argument("--policy-dir", default=str(REPO / "policy"))
    args = ap.parse_args()

    corpus = pathlib.Path(args.corpus)
    out = pathlib.Path(args.out)
    if not (corpus / "labels.tsv").is_file():
        fail(f"{corpus}: no labels.tsv (give the corpus root)")
    domains = brand_domains(pathlib.Path(args.policy_dir))
    labels = corpus_labels(corpus)
    rows = read_mapping(args.mapping)
    out.mkdir(parents=True, exist_ok=True)

    seen = set()
    per_brand = collections.Counter()
    from_domains = set()
    label_rows = ["file\tlabel\tbrand\tfrom\tfrom_domain\tpolicy_domain\tsource"]
    for n, rel, brand, addr, from_domain, policy_domain in rows:
        where = f"{args.mapping}:{n}"
        if rel in seen:
            fail(f"{where}: {rel} mapped twice")
        seen.add(rel)
        if labels.get(rel) not in SOURCE_LABELS:
            fail(f"{where}: {rel} is {labels.get(rel)!r} in the corpus, not phishing")
        official = domains.get(brand)
        if not official:
            fail(f"{where}: brand {brand!r} has no official domains in the policies")
        domain = addr.rpartition("@")[2].lower()
        if domain != from_domain.lower():
            fail(f"{where}: from_domain {from_domain} is not the domain of {addr}")
        if policy_domain.lower() not in official or not under(domain, policy_domain.lower()):
            fail(f"{where}: {domain} is not under {policy_domain}, one of {brand}'s {official}")
        raw = (corpus / rel).read_bytes()
        try:
            data = rewrite_from(raw, addr)
            check_parsed(data, addr)
        except ValueError as e:
            fail(f"{where}: {rel}: {e}")
        # Corpus names are unique per folder; keep the folder in the name so
        # that a later mapping drawing from phish/ cannot collide.
        name = rel.replace("/", "__")
        (out / name).write_bytes(data)
        per_brand[brand] += 1
        from_domains.add(domain)
        label_rows.append("\t".join([name, LABEL, brand, addr, domain, policy_domain, rel]))

    (out / "labels.tsv").write_text("\n".join(label_rows) + "\n", encoding="utf-8")
    (out / "domains.txt").write_text("".join(d + "\n" for d in sorted(from_domains)), encoding="utf-8")
    unmapped = sum(1 for f, lab in labels.items() if lab == "jp-phish" and f not in seen)
    brands = ", ".join(f"{b} {c}" for b, c in per_brand.most_common())
    print(f"{len(rows)} messages, {len(per_brand)} brands, {len(from_domains)} From domains "
          f"into {out}; jp-phish not mapped: {unmapped}")
    print(brands)


if __name__ == "__main__":
    main()
