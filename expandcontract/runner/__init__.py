"""The safe migration runner behind ``ec expand`` and ``ec contract``."""
