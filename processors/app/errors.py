"""Errors a user can cause: each becomes one clear line on stderr and a non-zero exit."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a state the user must fix; the message is the whole story."""

    user_facing = True
