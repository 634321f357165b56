"""`python -m qipstudy ...` is the `qipstudy` command."""
import sys

from qipstudy.cli import main

sys.exit(main())
