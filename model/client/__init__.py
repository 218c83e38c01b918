"""Client-side machines: what the browser voice client does."""
