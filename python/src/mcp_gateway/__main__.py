"""``python -m mcp_gateway …`` runs the gateway binary with the same arguments."""

from __future__ import annotations

import os
import subprocess
import sys

from .binary import find_binary


def main() -> int:
    try:
        binary = find_binary()
    except FileNotFoundError as e:
        print(f"mcp-gateway: {e}", file=sys.stderr)
        return 127
    argv = [str(binary), *sys.argv[1:]]
    if sys.platform != "win32":
        # The binary takes this process's place: signals and exit code are its own.
        os.execv(argv[0], argv)
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main())
