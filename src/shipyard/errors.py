"""``shipyard.errors`` provides the exceptions a user can meet.

Every error that is the user's to fix derives from :class:`ShipyardError`. The
CLI prints its ``headline`` and message and exits with code 2, without a
traceback; anything else is an internal error (exit code 1, with traceback).
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base class of every error caused by input, configuration or user code."""

    headline = "Error"
    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ShipyardDeprecationWarning(DeprecationWarning):
    """Warning for deprecated Shipyard features."""


class ProjectNotFound(ShipyardError):
    headline = "No Shipyard project"


class StepDefinitionError(ShipyardError):
    headline = "Invalid step"


class PipelineDefinitionError(ShipyardError):
    headline = "Invalid pipeline"


class ParamsError(ShipyardError):
    headline = "Invalid parameters"


class MaterializerError(ShipyardError):
    headline = "Cannot store value"


class UnsafeArtifactError(ShipyardError):
    headline = "Refusing to load untrusted code"


class ArtifactNotFound(ShipyardError):
    headline = "Artifact not found"


class RunNotFound(ShipyardError):
    headline = "Run not found"


class DatasetNotFound(ShipyardError):
    headline = "Dataset not found"


class ModelNotFound(ShipyardError):
    headline = "Model not found"


class RegistryError(ShipyardError):
    headline = "Model registry"


class StoreError(ShipyardError):
    headline = "Store unavailable"


class StoreVersionError(StoreError):
    headline = "Store version mismatch"


class StackError(ShipyardError):
    """A stack that is unknown, invalid, or would hold a secret."""

    headline = "Invalid stack"


class StoreMigrationRequired(StoreVersionError):
    """A shared store is at an older schema revision; ``shipyard stack migrate`` upgrades it."""

    headline = "Store needs migrating"


class ImportPathError(ShipyardError):
    headline = "Cannot import"


class StepFailed(ShipyardError):
    """A step raised; the run is recorded as failed."""

    headline = "Step failed"

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        step: str,
        traceback: str,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.run_id = run_id
        self.step = step
        self.traceback = traceback


class ReproduceError(ShipyardError):
    """A run cannot be reproduced as recorded (another commit, its data version gone...)."""

    headline = "Cannot reproduce"


class RunInterrupted(ShipyardError):
    headline = "Run interrupted"
    exit_code = 130


__all__ = [
    "ArtifactNotFound",
    "DatasetNotFound",
    "ImportPathError",
    "MaterializerError",
    "ModelNotFound",
    "ParamsError",
    "PipelineDefinitionError",
    "ProjectNotFound",
    "RegistryError",
    "ReproduceError",
    "RunInterrupted",
    "RunNotFound",
    "ShipyardDeprecationWarning",
    "ShipyardError",
    "StackError",
    "StepDefinitionError",
    "StepFailed",
    "StoreError",
    "StoreMigrationRequired",
    "StoreVersionError",
    "UnsafeArtifactError",
]
