"""imgprep's version: recorded in every stats file and output, importable by any module
without reaching up to the package's ``__init__``."""

__version__ = "0.1.0"
