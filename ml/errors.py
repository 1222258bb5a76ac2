"""The one error a model raises when the data at hand cannot support it."""


class CannotTrain(ValueError):
    """Too few rows, one class, no buyers, no repeat buyers, no history before a cutoff: the
    message says what is missing in words a data team understands. The pipeline skips the
    model, says so, and goes on; any other error is a bug and fails loudly."""
