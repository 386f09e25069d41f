"""The operations docs stay in step with the code: one configuration reference, linked."""

from __future__ import annotations

import re
from pathlib import Path

from entrypoints.cli.main import build_parser
from entrypoints.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_names() -> list[str]:
    return [(field.alias or name).upper() for name, field in Settings.model_fields.items()]


def test_every_setting_is_documented_in_the_configuration_reference() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference))
    missing = [name for name in env_names() if name not in documented]
    assert not missing, f"add these settings to docs/configuration.md: {missing}"


def test_the_deploy_guide_is_linked_and_links_the_reference() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "(configuration.md)" in deploy
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()


def test_the_deploy_guide_covers_the_operations_commands() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("backup", "restore", "purge", "migrate", "verify-audit"):
        assert command in commands
        assert f"aqualab {command}" in deploy
