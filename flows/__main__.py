"""``python -m flows run|validate|synth|...``: the ``textmine`` command without the console script."""
import sys

from flows.cli import main

if __name__ == "__main__":
    sys.exit(main())
