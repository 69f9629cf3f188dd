"""Document format parsers: each reads one file format into retrieval.structure.Parsed."""
