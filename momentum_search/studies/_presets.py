"""Study specs shipped inside the package, as YAML files in ``presets/``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from momentum_search.studies._spec import SpecError, StudySpec, parse_spec


@dataclass(frozen=True)
class PresetInfo:
    name: str
    task: str
    cells: tuple[str, ...]
    trials: int
    description: str


def _files() -> dict[str, resources.abc.Traversable]:
    folder = resources.files("momentum_search.studies") / "presets"
    return {item.name.removesuffix(".yaml"): item for item in folder.iterdir() if item.name.endswith(".yaml")}


def preset_names() -> list[str]:
    """Every shipped preset, ``quickstart`` first."""
    return sorted(_files(), key=lambda name: (name != "quickstart", name))


def preset_text(name: str) -> str:
    """The YAML of preset ``name``, to read or to copy and edit.

    Raises:
        SpecError: no such preset (the message lists them).
    """
    files = _files()
    if name not in files:
        raise SpecError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    return files[name].read_text(encoding="utf-8")


def load_preset(name: str) -> StudySpec:
    """The validated spec of preset ``name``."""
    import yaml

    return parse_spec(yaml.safe_load(preset_text(name)), source=f"preset {name}")


def list_presets() -> list[PresetInfo]:
    infos = []
    for name in preset_names():
        spec = load_preset(name)
        infos.append(PresetInfo(name, spec.task, spec.cells, spec.trials, spec.description))
    return infos
