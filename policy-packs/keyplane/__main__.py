"""keyplane's CrossGuard policy pack: every policy comes from keyplane's rule registry."""

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent

try:
    # A copy vendored beside this file (for `pulumi policy publish`) or an installed keyplane.
    import keyplane  # noqa: F401
except ImportError:
    # Run from a keyplane checkout: the repository root is two levels up.
    sys.path.insert(0, str(PACK_DIR.parent.parent))

from keyplane.engines.crossguard.pack import serve  # noqa: E402

serve(PACK_DIR)
