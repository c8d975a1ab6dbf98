"""Configuration: file format, validation against the catalog, and the database store."""
