"""Settings live in one module, and `.env.example` documents every variable they read."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from deskpulse import settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def env_names(cls: type[BaseSettings]) -> list[str]:
    prefix = cls.model_config.get("env_prefix", "")
    names = []
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.append(str(choices[0]) if choices else f"{prefix}{name}".upper())
    return names


def test_env_example_lists_every_setting() -> None:
    documented = set(re.findall(r"^#? ?(DESKPULSE_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    classes = [c for c in vars(settings).values()
               if isinstance(c, type) and issubclass(c, BaseSettings) and c is not BaseSettings]
    assert {c.__name__ for c in classes} == {"Settings", "SyncSettings", "SmtpSettings", "ReportSettings"}
    missing = sorted({n for c in classes for n in env_names(c)} - documented)
    assert not missing, f".env.example lacks {missing}"


def test_no_other_module_defines_settings() -> None:
    src = Path(settings.__file__).parent
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "settings.py" and re.search(r"class \w+\(BaseSettings\)", p.read_text())]
    assert offenders == []


def test_env_example_holds_no_secret_values() -> None:
    for line in ENV_EXAMPLE.read_text().splitlines():
        if re.search(r"(SECRET|PASSWORD|TOKEN)=", line):
            assert line.strip().endswith("="), line
