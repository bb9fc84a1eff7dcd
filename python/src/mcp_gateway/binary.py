"""Where the ``mcp-gateway`` binary is: the one this package's wheel installed, unless told
otherwise."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

BINARY_NAME = "mcp-gateway.exe" if sys.platform == "win32" else "mcp-gateway"


def find_binary() -> Path:
    """The gateway binary: ``MCP_GATEWAY_BIN`` when set, else the one installed with this
    package (the scripts directory of this interpreter, or of the user scheme), else the
    first on ``PATH``. Raises :class:`FileNotFoundError` saying where it looked."""
    explicit = os.environ.get("MCP_GATEWAY_BIN")
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise FileNotFoundError(f"MCP_GATEWAY_BIN={explicit} is not an executable file")
    looked = []
    for scheme in (None, f"{os.name}_user"):
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        candidate = Path(scripts) / BINARY_NAME
        looked.append(str(candidate))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return Path(on_path)
    raise FileNotFoundError(
        f"the {BINARY_NAME} binary was not found (looked in {', '.join(looked)} and on PATH); "
        "install the mcp-gateway wheel, `cargo install --path crates/cli`, or set MCP_GATEWAY_BIN"
    )
