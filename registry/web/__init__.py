"""The catalog pages: server-rendered HTML for people, on top of every other domain."""
