"""Counts per suite and backend, then every failure with the Glance line and assertion.

    summarize.py OUT_DIR MODE BACKEND... -- SUITE...

Reads OUT_DIR/MODE-BACKEND-SUITE.jsonl (written by gm_conformance.py). Exit status 0 when all
passed, 1 when a test failed or errored, 2 when a backend/suite pair produced no result at all
(a collection or setup problem: see its .log).
"""

import json
import os
import sys

from known_failures import known_reason

OUTCOMES = ("passed", "failed", "known", "error", "skipped")
RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


def load(path):
    """One outcome per test id, the worst one (a test failing in call and teardown counts once)."""
    tests = {}
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            seen = tests.get(entry["test"])
            if seen is None or RANK[entry["outcome"]] > RANK[seen["outcome"]]:
                tests[entry["test"]] = entry
    return list(tests.values())


def main(argv):
    out, mode = argv[1], argv[2]
    sep = argv.index("--")
    backends, suites = argv[3:sep], argv[sep + 1:]
    rows, problems, missing = [], [], []
    for suite in suites:
        for backend in backends:
            path = os.path.join(out, "%s-%s-%s.jsonl" % (mode, backend, suite))
            if not os.path.exists(path) or os.path.getsize(path) == 0:
                missing.append("%s/%s: no test ran (see %s)"
                               % (suite, backend, path[:-len(".jsonl")] + ".log"))
                continue
            tests = load(path)
            for t in tests:
                reason = known_reason(t) if t["outcome"] == "failed" else None
                if reason:
                    t["outcome"], t["message"] = "known", reason + " | " + t["message"]
            counts = {o: sum(1 for t in tests if t["outcome"] == o) for o in OUTCOMES}
            rows.append((suite, backend, counts))
            problems += [t for t in tests if t["outcome"] in ("failed", "error")]
            problems += [t for t in tests if t["outcome"] in ("skipped", "known")]

    print("\nGlance 33.0.0 DB suites, schema by %s" % {
        "ours": "our glance-manage",
        "reference": "Glance's own alembic (reference run)",
    }.get(mode, mode))
    header = ("suite", "backend", "passed", "failed", "known", "errored", "skipped")
    print("%-11s %-11s %7s %7s %6s %8s %8s" % header)
    for suite, backend, c in rows:
        print("%-11s %-11s %7d %7d %6d %8d %8d" % (suite, backend, c["passed"], c["failed"],
                                                   c["known"], c["error"], c["skipped"]))
    total = {o: sum(c[o] for _, _, c in rows) for o in OUTCOMES}
    print("%-23s %7d %7d %6d %8d %8d" % ("total", total["passed"], total["failed"],
                                          total["known"], total["error"], total["skipped"]))
    print("(known = fails at the same assertion with Glance's own schema: known_failures.py)")
    calls = os.path.join(out, "%s-calls.jsonl" % mode)
    if mode != "reference":
        # Proof the substitution was in effect: how often the tests ran our binary.
        counts = {}
        if os.path.exists(calls):
            with open(calls) as f:
                for line in f:
                    sub = json.loads(line)["args"][1]
                    counts[sub] = counts.get(sub, 0) + 1
        print("glance-manage runs: %s" % (
            ", ".join("db %s x%d" % kv for kv in sorted(counts.items())) or "none"))
    for t in problems:
        print("\n[%s] %s (%s)\n    at: %s\n    %s" % (
            t["outcome"].upper(), t["test"], t["backend"], t["where"] or "-",
            t["message"] or "-"))
    for m in missing:
        print("\n[NO RESULTS] %s" % m)
    # The closing line in the form test harnesses read.
    print("\n%d passed, %d failed, %d skipped, %d known" % (
        total["passed"], total["failed"] + total["error"], total["skipped"], total["known"]))
    if missing:
        return 2
    return 1 if total["failed"] or total["error"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
