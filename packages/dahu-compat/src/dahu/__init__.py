"""dahu's import name, backed by lab-dahu (distribution ``lab-dahu-compat``).

dahu's plugins and scripts run unchanged::

    from dahu.plugin import Plugin
    from dahu.factory import register

Where lab-dahu keeps a default of its own, these modules give dahu's (see the
README's compatibility table). This distribution and the real ``dahu``
distribution both install the package ``dahu``: install one or the other.
"""

from __future__ import annotations

import logging
from importlib import metadata

from .version import version as __version__

__all__ = ["__version__"]


def _real_dahu_installed() -> bool:
    try:
        metadata.distribution("dahu")
    except metadata.PackageNotFoundError:
        return False
    return True


if _real_dahu_installed():
    logging.getLogger(__name__).warning(
        "both the 'dahu' and the 'lab-dahu-compat' distributions are installed and both provide "
        "the 'dahu' package; the files of whichever was installed last are in use. Uninstall one "
        "(pip uninstall dahu, or pip uninstall lab-dahu-compat)")
