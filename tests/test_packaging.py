"""The packaging says what is tested: every lower bound in pyproject.toml is the version
constraints.txt pins for CI (torch excepted, on purpose: see pyproject.toml)."""

from __future__ import annotations

import re

import tomllib

from helpers import ROOT

REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([^;,\s]+)")


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            found[name.strip().lower().replace("_", "-")] = version.split(";")[0].split("+")[0].strip()
    return found


def test_lower_bounds_are_the_tested_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + [
        r for group in project["optional-dependencies"].values() for r in group
    ]
    tested = pins()
    checked, different = 0, []
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        assert match, f"{requirement}: every requirement has a lower bound"
        name, bound = match.group(1).lower().replace("_", "-"), match.group(2)
        if name == "torch":
            continue
        assert name in tested, f"{name} is required but not pinned in constraints.txt"
        checked += 1
        if bound != tested[name]:
            different.append(f"{name}: >={bound}, tested {tested[name]}")
    assert not different
    assert checked > 30
