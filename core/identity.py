"""Who is acting, for the audit ledger: the operating-system user when no name is given."""

from __future__ import annotations

import getpass


def os_user() -> str:
    """The login name of whoever runs this process (commands, bootstrap, the page's default name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no USER variable, e.g. in some containers
        return "unknown OS user"
