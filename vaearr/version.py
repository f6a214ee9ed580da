"""The installed version of vaearr (what every written variable records in ``vaearr_version``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vaearr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
