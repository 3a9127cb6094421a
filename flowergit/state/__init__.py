"""Records, codecs, ref layout and stores. `model`-like modules here import nothing from gitio."""
