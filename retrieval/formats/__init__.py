"""Format parsers: each file type to structure.Parsed."""
