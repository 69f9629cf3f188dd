"""The test suite; `tests.support` holds what tests and `bench/` share."""
