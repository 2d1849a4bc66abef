"""``python -m nas.data prepare NAME...``: see :func:`nas.data.datasets.main`."""

import sys

from nas.data.datasets import main

if __name__ == "__main__":
    sys.exit(main())
