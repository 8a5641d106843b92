"""The asynchronous client; ``scripts/unasync.py`` makes its twin from these modules."""
