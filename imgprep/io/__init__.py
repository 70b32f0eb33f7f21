"""Reading and writing files: discovery, decoding, atomic output."""
