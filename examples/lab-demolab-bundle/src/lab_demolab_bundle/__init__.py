"""The Demolab lab's bundle."""
