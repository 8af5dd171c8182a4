"""lab-demolab-bundle: ships the lab's default configuration."""

from importlib.resources import files

import lab_core


@lab_core.hookimpl
def lab_bundle_config():
    return str(files(__package__) / "lab.toml")
