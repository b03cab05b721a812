// Intentionally empty: gives every library target at least one source file.
