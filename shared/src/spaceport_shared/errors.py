"""Errors a user can cause.

Their text is shown to the user as it is (the SageMaker failure reason, the CLI's last line), so
each message is one sentence that says what is wrong and what to do.
"""


class SpaceportError(Exception):
    """A failure caused by the input or the settings, not by a bug."""


class SettingsError(SpaceportError):
    """A setting is unknown or its value is malformed or out of range."""


class StageTerminatedError(SpaceportError):
    """SIGTERM arrived (a SageMaker stop or a spot interruption)."""
