"""``__version__``: written in pyproject.toml only; read from the installed
package's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gilfree")
except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
    __version__ = "0+unknown"
