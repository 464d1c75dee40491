class InvalidInputError(ValueError):
    """Input data the models cannot use; the message names the problem and the fix."""


class ArtifactError(ValueError):
    """A saved model that cannot be loaded safely (missing, tampered, unknown types)."""
