"""The documentation site builds, its generated references follow the code, and README.md is
the short entrance that leads each audience into it.

- `mkdocs build --strict` succeeds (with mkdocs.yml's `validation:`, a broken link or anchor
  is a warning, so a failed build; a site with one is shown to fail);
- every setting of the settings classes is in the generated configuration reference, and
  nothing else is;
- every command of `credit-platform` is in the generated CLI reference;
- README.md is at most 260 lines and links to each audience's landing page.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
LANDING_PAGES = (
    "docs/data-engineers/index.md",
    "docs/lenders/index.md",
    "docs/compliance/index.md",
    "docs/operators/index.md",
)
README_MAX_LINES = 260


def load(path: Path, name: str) -> ModuleType:
    """A script that is not in a package (docs/, bench/), imported from its file."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load(REPO_ROOT / "docs" / "gen_reference.py", "docs_gen_reference_under_test")


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` with the interpreter's own mkdocs (.venv's under `make test`)."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
        + ["--site-dir", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


# -- the site ----------------------------------------------------------------------------------


def test_the_site_builds_strictly_with_every_link_and_anchor_resolved(tmp_path: Path) -> None:
    done = mkdocs_build(REPO_ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    for page in ("index.html", "reference/configuration/index.html", "reference/cli/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_a_broken_link_or_anchor_fails_the_build_as_the_site_is_configured(
    tmp_path: Path,
) -> None:
    """The same `validation:` and strictness as mkdocs.yml, on a two-page site with a link to
    an anchor that does not exist and one to a page that does not exist."""
    ours = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert ours.get("strict") is True
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the other page](other.md#nowhere).\n")
    (docs / "other.md").write_text("# Other\n\nBack [home](index.md), or [away](missing.md).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_name": "probe",
                "docs_dir": "docs",
                "strict": ours["strict"],
                "validation": ours["validation"],
            }
        )
    )
    done = mkdocs_build(config, tmp_path / "site")
    assert done.returncode != 0
    assert "nowhere" in done.stderr and "missing.md" in done.stderr, done.stderr[-2000:]


# -- the configuration reference -----------------------------------------------------------


def settings_variables() -> set[str]:
    """Every env var the settings classes read: the class's prefix plus the field's name."""
    from credit_assets.core.platform.settings import Settings
    from scoring_api.settings import ApiSettings

    names = set()
    for cls in (Settings, ApiSettings):
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def test_every_setting_and_only_settings_are_in_the_configuration_reference(
    generator: ModuleType, tmp_path: Path
) -> None:
    generator.write_reference(tmp_path)
    page = (tmp_path / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(CREDIT_[A-Z0-9_]+)` \|", page, flags=re.M))
    expected = settings_variables()
    assert expected, "no settings found"
    missing, stale = sorted(expected - documented), sorted(documented - expected)
    assert not missing, f"settings missing from the configuration reference: {missing}"
    assert not stale, f"the configuration reference names settings that do not exist: {stale}"


def test_the_reference_row_gives_a_settings_type_default_and_description(
    generator: ModuleType, tmp_path: Path
) -> None:
    generator.write_reference(tmp_path)
    page = (tmp_path / "configuration.md").read_text(encoding="utf-8")
    row = next(line for line in page.splitlines() if line.startswith("| `CREDIT_API_MAX_BATCH`"))
    assert "`int`" in row and "`1000`" in row and "POST /v1/scores/batch" in row
    row = next(line for line in page.splitlines() if line.startswith("| `CREDIT_STORAGE`"))
    assert "`local`" in row and "`s3`" in row


# -- the CLI reference -----------------------------------------------------------------------


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    """Every command below `parser`, as the words after the program's name."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(" ".join((*path, name)))
                found += commands(sub, (*path, name))
    return found


def test_every_command_of_the_parser_is_in_the_cli_reference(
    generator: ModuleType, tmp_path: Path
) -> None:
    from credit_assets.cli import build_parser

    generator.write_reference(tmp_path)
    page = (tmp_path / "cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ `credit-platform ([^`]+)`$", page, flags=re.M))
    expected = commands(build_parser())
    assert {"materialize", "contract infer", "contract check", "borrower erase"} <= set(expected)
    missing = sorted(set(expected) - headings)
    assert not missing, f"commands missing from the CLI reference: {missing}"
    assert "usage: credit-platform contract infer" in page


# -- the README ------------------------------------------------------------------------------


def test_the_readme_is_short_and_leads_each_audience_to_its_landing_page() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    for page in LANDING_PAGES:
        assert f"]({page})" in text, f"README.md does not link to {page}"
        assert (REPO_ROOT / page).is_file(), page


def test_every_relative_link_in_the_readme_reaches_a_file() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t)]
    assert local
    broken = [t for t in local if not (REPO_ROOT / t).exists()]
    assert not broken, f"README.md links to missing files: {broken}"


def test_the_lda_statements_block_lives_where_the_script_writes_it() -> None:
    script = load(REPO_ROOT / "bench" / "lda_statements.py", "bench_lda_statements_under_test")
    text = script.TARGET.read_text(encoding="utf-8")
    assert script.TARGET == REPO_ROOT / "docs" / "LDA.md"
    assert text.count(script.BEGIN) == 1 and text.count(script.END) == 1
    assert script.BEGIN not in README.read_text(encoding="utf-8")
