"""``python -m lifecircle``."""

from .cli import main

main()
