#!/usr/bin/python3
"""Check META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/).

pgxnclient reads a distribution's META.json but has no validator, so this
checks what the spec requires and what pgxn's commands rely on: the
required keys and their types, semantic versions as pgxnclient's own
parser reads them (it refuses "1.0"), each provided extension's file, the
prereqs' phases and relations, and the license, release status and tags
from the spec's lists.  Run from anywhere; exits 1 listing every problem.
"""
import json
import os
import re
import sys

try:
    from pgxnclient import SemVer
except ImportError:
    sys.exit("check-meta: needs pgxnclient's Python module (apt-get install pgxnclient)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2",
            "bsd", "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3",
            "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
            "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib",
            "open_source", "restricted", "unrestricted", "unknown"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}
problems = []


def problem(msg):
    problems.append(msg)


def semver(where, v):
    try:
        SemVer(v)
    except (ValueError, TypeError):
        problem(f"{where}: {v!r} is not a semantic version (X.Y.Z)")


def string(where, v, required=True):
    if v is None:
        if required:
            problem(f"{where}: missing")
        return False
    if not isinstance(v, str) or not v.strip():
        problem(f"{where}: must be a non-empty string")
        return False
    return True


def version_range(where, v):
    """A prereq: 0 (any), a version (that or later), or operators."""
    if v == 0 or v == "0":
        return
    if not isinstance(v, str):
        problem(f"{where}: must be 0 or a version string")
        return
    for part in v.split(","):
        m = re.fullmatch(r"\s*(?:(==|!=|>=|<=|>|<)\s*)?(\S+)\s*", part)
        if not m:
            problem(f"{where}: {part!r} is not a version or a comparison")
        else:
            semver(where, m.group(2))


def main():
    path = os.path.join(ROOT, "META.json")
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"check-meta: cannot read {path}: {e}")

    spec = meta.get("meta-spec")
    if not isinstance(spec, dict) or spec.get("version") != "1.0.0":
        problem('meta-spec: must be {"version": "1.0.0", ...}')
    if string("name", meta.get("name")) and not re.fullmatch(r"[^\s/\\]{2,}", meta["name"]):
        problem("name: at least two characters, no whitespace, slash or backslash")
    string("abstract", meta.get("abstract"))
    string("description", meta.get("description"), required=False)
    if string("version", meta.get("version")):
        semver("version", meta["version"])

    maint = meta.get("maintainer")
    if isinstance(maint, list):
        for i, m in enumerate(maint):
            string(f"maintainer[{i}]", m)
    else:
        string("maintainer", maint)

    lic = meta.get("license")
    names = lic if isinstance(lic, list) else [lic] if isinstance(lic, str) else None
    if isinstance(lic, dict):
        names = []      # {"name": "url"}: any license, named by its URL
    if names is None:
        problem("license: missing, or not a string, list or object")
    for n in names or []:
        if n not in LICENSES:
            problem(f"license: {n!r} is not one of the spec's license strings")

    provides = meta.get("provides")
    if not isinstance(provides, dict) or not provides:
        problem("provides: must name at least one extension")
    for ext, p in (provides or {}).items():
        if not isinstance(p, dict):
            problem(f"provides.{ext}: must be an object")
            continue
        if string(f"provides.{ext}.file", p.get("file")) and \
                not os.path.isfile(os.path.join(ROOT, p["file"])):
            problem(f"provides.{ext}.file: {p['file']} does not exist")
        if string(f"provides.{ext}.version", p.get("version")):
            semver(f"provides.{ext}.version", p["version"])
        if p.get("docfile") is not None and string(f"provides.{ext}.docfile", p["docfile"]) \
                and not os.path.isfile(os.path.join(ROOT, p["docfile"])):
            problem(f"provides.{ext}.docfile: {p['docfile']} does not exist")
        if ext == meta.get("name") and not os.path.isfile(os.path.join(ROOT, ext + ".control")):
            problem(f"provides.{ext}: there is no {ext}.control, so CREATE EXTENSION {ext} cannot work")

    for phase, rels in (meta.get("prereqs") or {}).items():
        if phase not in PHASES:
            problem(f"prereqs.{phase}: not a phase ({', '.join(sorted(PHASES))})")
            continue
        for rel, reqs in rels.items():
            if rel not in RELATIONS:
                problem(f"prereqs.{phase}.{rel}: not a relation ({', '.join(sorted(RELATIONS))})")
                continue
            for name, v in reqs.items():
                version_range(f"prereqs.{phase}.{rel}.{name}", v)
    if "PostgreSQL" not in (meta.get("prereqs") or {}).get("runtime", {}).get("requires", {}):
        problem("prereqs.runtime.requires: should name the PostgreSQL it needs")

    if meta.get("release_status", "stable") not in ("stable", "testing", "unstable"):
        problem("release_status: stable, testing or unstable")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) < 256 for t in tags):
        problem("tags: a list of strings of 1 to 255 characters")

    if problems:
        print("check-meta: META.json does not follow the PGXN Meta Spec 1.0.0:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print(f"META.json: {meta['name']} {meta['version']}, PGXN Meta Spec 1.0.0")


main()
