"""Channel-agnostic conversation logic: the decision walk, the record step and answers."""
