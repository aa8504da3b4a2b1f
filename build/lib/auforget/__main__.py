"""`python -m auforget`: the same CLI as the `auforget` script, for `torchrun -m auforget ...`."""

import sys

from auforget.cli import main

if __name__ == "__main__":
    sys.exit(main())
