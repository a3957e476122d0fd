"""`python -m proxy`: the same command line as `inworld-realtime-proxy`."""

import sys

from proxy.cli.main import main

sys.exit(main())
