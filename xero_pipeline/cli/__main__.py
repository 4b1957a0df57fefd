"""`python -m xero_pipeline.cli …`, the same as `xero-pipeline …`."""

import sys

from xero_pipeline.cli import main

sys.exit(main())
