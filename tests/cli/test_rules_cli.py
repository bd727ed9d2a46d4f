"""``falmigrate rules``: the rule registry as a table, as JSON, as the generated docs/rules.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from falmigrate import platforms, rules
from falmigrate.cli.app import app
from falmigrate.rules.docs import render_markdown
from tests.helpers.golden import REPO


def invoke(*args: str):
    return CliRunner().invoke(app, ["rules", *args], env={"COLUMNS": "240"}, catch_exceptions=False)


def rules_json(*args: str) -> list[dict]:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    return data["rules"]


def test_the_table_lists_every_rule_with_its_title_and_advice():
    result = invoke()
    assert result.exit_code == 0, result.output
    for rule in rules.all_rules():
        assert rule.id in result.stdout
    first = rules.all_rules()[0]
    assert first.severity in result.stdout and first.what_to_do.split()[0] in result.stdout


def test_json_is_the_registry():
    listed = rules_json()
    assert [item["id"] for item in listed] == [rule.id for rule in rules.all_rules()]
    assert listed[0] == rules.all_rules()[0].model_dump()
    assert set(listed[0]) == {"id", "platform", "area", "severity", "title", "what_to_do"}


@pytest.mark.parametrize("platform", ["shared", *platforms.NAMES])
def test_platform_filter(platform):
    listed = rules_json("--platform", platform)
    assert listed and {item["platform"] for item in listed} == {platform}
    assert all(item["id"] in platforms.rule_range(platform) for item in listed)
    assert len(listed) == len(rules.for_platform(platform))


def test_named_ids_in_the_order_given_case_insensitive_once_each():
    assert [item["id"] for item in rules_json("FM303", "fm090", "FM303")] == ["FM303", "FM090"]
    shown = invoke("FM102")
    assert shown.exit_code == 0 and "FM102" in shown.stdout and "FM103" not in shown.stdout
    assert rules_json("FM102", "FM303", "--platform", "runpod") == [rules.lookup("FM303").model_dump()]


@pytest.mark.parametrize("args", [
    ("FM999",),
    ("FM102", "nope"),
    ("--platform", "heroku"),
    ("--markdown", "--json"),
    ("--markdown", "FM102"),
])
def test_bad_input_is_one_error_line_and_exit_2(args):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_unknown_ids_as_json_error():
    result = invoke("FM999", "--json")
    data = json.loads(result.stdout)
    assert result.exit_code == 2 and data["ok"] is False and "FM999" in data["error"]["message"]


def test_markdown_is_the_committed_docs_page():
    result = invoke("--markdown")
    assert result.exit_code == 0
    assert result.stdout == render_markdown() == (REPO / "docs" / "rules.md").read_text(encoding="utf-8")


def test_python_dash_m_falmigrate_rules():
    proc = subprocess.run([sys.executable, "-m", "falmigrate.rules", "--markdown"], capture_output=True,
                          text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render_markdown()
    bad = subprocess.run([sys.executable, "-m", "falmigrate.rules", "FM999"], capture_output=True, text=True,
                         check=False, cwd=REPO)
    assert bad.returncode == 2 and "FM999" in bad.stderr
