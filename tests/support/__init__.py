"""What tests and benchmarks share: the fake Discord and its payloads, processes of the real bot, corpora."""
