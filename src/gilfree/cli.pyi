from collections.abc import Sequence

__all__ = ["main"]

# the `gilfree` command (also `python -m gilfree`); returns the exit status
def main(argv: Sequence[str] | None = None) -> int: ...
