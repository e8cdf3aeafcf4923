"""MkDocs hooks (`hooks:` in mkdocs.yml): before every build, `mkdocs build` and each rebuild
of `mkdocs serve`, the generated reference pages are written from the code
(`docs/gen_reference.py`: the configuration reference from the settings classes, the CLI
reference from `credit_assets.cli.build_parser()`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

GENERATOR = Path(__file__).resolve().with_name("gen_reference.py")


def _generator() -> ModuleType:
    """docs/ is not a package: load the generator from its file."""
    spec = importlib.util.spec_from_file_location("credit_docs_gen_reference", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_pre_build(config: Any, **_: Any) -> None:
    _generator().write_reference(Path(config["docs_dir"]) / "reference")
