#!/usr/bin/env python3
"""The RustSec advisories that apply to the crates one variant builds.

    audit.py ADVISORY_DB < crate-list

The crate list is `cargo tree --prefix none` output ("name vX.Y.Z ..." a
line). An advisory applies as `cargo audit` decides: its crate matches and
the version is in none of its `patched` or `unaffected` ranges; withdrawn
advisories are skipped. Vulnerabilities print as `vulnerability ...` lines,
informational ones (unmaintained, unsound) as `warning ...` lines.
"""

import pathlib
import re
import sys
import tomllib


def parse_version(text):
    """(major, minor, patch, release-after-prerelease, prerelease), and how
    many of major.minor.patch the text gave."""
    core, _, pre = text.strip().partition("-")
    core = core.partition("+")[0]
    parts = [int(p) for p in core.split(".") if p != ""]
    given = len(parts)
    parts += [0] * (3 - len(parts))
    return (parts[0], parts[1], parts[2], 0 if pre else 1, pre), given


def matches_one(version, comparator):
    m = re.fullmatch(r"\s*(>=|<=|>|<|=|\^|~)?\s*([0-9][^\s]*)\s*", comparator)
    if not m:
        raise ValueError(f"unreadable requirement {comparator!r}")
    op, (bound, given) = m.group(1) or "^", parse_version(m.group(2))
    if op == ">=":
        return version >= bound
    if op == ">":
        return version > bound
    if op == "<=":
        return version <= bound
    if op == "<":
        return version < bound
    if op == "=":
        return version == bound
    major, minor, patch = bound[:3]
    if op == "~":
        upper = (major + 1, 0, 0) if given == 1 else (major, minor + 1, 0)
    elif major > 0 or given == 1:
        upper = (major + 1, 0, 0)
    elif minor > 0 or given == 2:
        upper = (0, minor + 1, 0)
    else:
        upper = (0, 0, patch + 1)
    return bound <= version < (*upper, 0, "")


def matches(version, requirement):
    return all(matches_one(version, c) for c in requirement.split(","))


def advisories(db, name):
    folder = db / "crates" / name
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.md")):
        text = path.read_text()
        front = re.search(r"```toml\n(.*?)\n```", text, re.S)
        if not front:
            continue
        data = tomllib.loads(front.group(1))
        title = re.search(r"^# (.+)$", text[front.end():], re.M)
        yield data, title.group(1).strip() if title else ""


def main():
    db = pathlib.Path(sys.argv[1])
    crates = set()
    for line in sys.stdin:
        words = line.split()
        if len(words) >= 2 and words[1].startswith("v"):
            crates.add((words[0], words[1][1:]))
    found = 0
    for name, text in sorted(crates):
        version, _ = parse_version(text)
        for data, title in advisories(db, name):
            advisory = data.get("advisory", {})
            if advisory.get("withdrawn"):
                continue
            ranges = data.get("versions", {})
            safe = ranges.get("patched", []) + ranges.get("unaffected", [])
            if any(matches(version, r) for r in safe):
                continue
            kind = "warning" if advisory.get("informational") else "vulnerability"
            detail = advisory.get("informational", "")
            print(f"{kind} {advisory.get('id')} {name} {text} {detail}: {title}")
            found += 1
    print(f"# {len(crates)} crates checked, {found} advisories apply")


if __name__ == "__main__":
    main()
