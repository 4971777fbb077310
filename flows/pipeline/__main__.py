"""``python -m flows.pipeline ARGS`` is ``python -m flows run ARGS`` (docs/contract.md §2): the flow without the
console script."""
import sys

from flows.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
