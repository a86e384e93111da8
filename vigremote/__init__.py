"""vigremote: Video Interaction Guidance done online."""

__version__ = "0.1.0"
