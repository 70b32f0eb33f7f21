"""``python -m imgprep``."""

from imgprep.cli import main

if __name__ == "__main__":
    main()
