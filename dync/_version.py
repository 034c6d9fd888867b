"""The version of dync, in a module that imports nothing, so that every
other module may import it without reaching up into the package."""

__version__ = "0.1.0"
