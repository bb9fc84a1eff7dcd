"""A gateway run from Python, for notebooks and tests: :func:`local_gateway` starts the
binary on a free loopback port with a config given as a dict or a file, waits until it is
ready, yields a connected client, and stops and reaps the process on the way out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx2

from .binary import find_binary
from .client import AsyncMCPGateway, MCPGateway

# Variables of the caller's environment that would contradict what is passed explicitly.
_OVERRIDDEN = ("MCP_GATEWAY_CONFIG", "MCP_GATEWAY_LISTEN", "MCP_GATEWAY_URL")
_PORT_ATTEMPTS = 3


class GatewayStartError(RuntimeError):
    """The gateway process exited or did not become ready; the message ends with its log."""


class GatewayProcess:
    """One ``mcp-gateway serve`` process on loopback.

    ``config``: a mapping (the YAML file's content: ``gateway:`` and ``mcp_servers:``), a
    path to a YAML file, or ``None`` (no servers). ``env`` is added to this process's
    environment; the SQLite store goes to a temporary directory unless ``DATABASE_URL`` is
    given. The process's log is kept in :attr:`log_path` while it runs.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        master_key: str | None = None,
        env: Mapping[str, str] | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self._config = config
        self._env = dict(env or {})
        # The key the process will have: given, or inherited with the environment.
        # ("" means none, even where the environment has one.)
        self.master_key = (
            master_key
            if master_key is not None
            else self._env.get("MCP_GATEWAY_MASTER_KEY", os.environ.get("MCP_GATEWAY_MASTER_KEY"))
        )
        self._binary = Path(binary) if binary is not None else None
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self.url = ""

    @property
    def log_path(self) -> Path | None:
        """Where the running gateway's log is (in its temporary directory)."""
        return Path(self._log.name) if self._log is not None else None

    @property
    def pid(self) -> int | None:
        """The running gateway's process id."""
        return self._process.pid if self._process is not None else None

    def start(self) -> str:
        """Starts the gateway and waits until it answers ``/health/readiness``; returns its
        URL. Raises :class:`GatewayStartError` with the gateway's own words when it stops
        (a bad configuration exits with code 64 and one line saying why)."""
        if self._process is not None:
            raise RuntimeError("this gateway is already running")
        binary = self._binary or find_binary()
        self._workdir = tempfile.TemporaryDirectory(prefix="mcp-gateway-")
        work = Path(self._workdir.name)
        config = self._config_file(work)
        try:
            for attempt in range(_PORT_ATTEMPTS):
                port = _free_port()
                self._spawn(binary, config, work, port)
                if self._wait_ready(attempt + 1 < _PORT_ATTEMPTS):
                    return self.url
            raise GatewayStartError("no free port could be bound")  # pragma: no cover
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stops the gateway (SIGTERM, then SIGKILL after ``timeout`` seconds), reaps it and
        removes its temporary files; returns its exit code (``None`` if it never ran)."""
        code = self._end_process(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        return code

    def log(self) -> str:
        """What the gateway has logged so far."""
        path = self.log_path
        return path.read_text(errors="replace") if path is not None and path.exists() else ""

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config_file(self, work: Path) -> Path | None:
        if self._config is None:
            return None
        if isinstance(self._config, Mapping):
            # JSON is YAML: the gateway reads it as it reads its YAML files.
            path = work / "config.yaml"
            path.write_text(json.dumps(self._config, indent=2))
            return path
        path = Path(self._config)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        return path

    def _spawn(self, binary: Path, config: Path | None, work: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDDEN}
        env.setdefault("DATABASE_URL", f"sqlite://{work / 'mcp-gateway.db'}")
        env.setdefault("NO_COLOR", "1")
        env.update(self._env)
        if self.master_key is not None:
            env["MCP_GATEWAY_MASTER_KEY"] = self.master_key
        argv = [str(binary), "serve", "--listen", f"127.0.0.1:{port}"]
        if config is not None:
            argv += ["--config", str(config)]
        if self._log is not None:
            self._log.close()
        self._log = open(work / f"gateway-{port}.log", "w+b")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
        self.url = f"http://127.0.0.1:{port}"

    def _wait_ready(self, may_retry_port: bool) -> bool:
        """True once ready; False when the port was taken (try another)."""
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        headers = {"Authorization": f"Bearer {self.master_key}"} if self.master_key else {}
        with httpx2.Client(timeout=2.0, headers=headers) as http:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    log = self.log()
                    self._process = None
                    if may_retry_port and "address already in use" in log.lower():
                        return False
                    raise GatewayStartError(f"mcp-gateway exited with code {code}:\n{_tail(log)}")
                try:
                    if http.get(self.url + "/health/readiness").status_code == 200:
                        return True
                except httpx2.TransportError:
                    pass
                time.sleep(0.05)
        raise GatewayStartError(
            f"mcp-gateway was not ready within {self._startup_timeout:g} s:\n{_tail(self.log())}"
        )

    def _end_process(self, timeout: float) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait()


@contextmanager
def local_gateway(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    master_key: str | None = None,
    env: Mapping[str, str] | None = None,
    binary: str | os.PathLike[str] | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[MCPGateway]:
    """Runs a gateway for the duration of a ``with`` block and yields a client for it.

    >>> with local_gateway({"mcp_servers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}) as gw:
    ...     gw.list_tools()  # doctest: +SKIP
    """
    with GatewayProcess(
        config, master_key=master_key, env=env, binary=binary, startup_timeout=startup_timeout
    ) as process:
        with MCPGateway(process.url, process.master_key or "") as client:
            yield client


@asynccontextmanager
async def async_local_gateway(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    master_key: str | None = None,
    env: Mapping[str, str] | None = None,
    binary: str | os.PathLike[str] | None = None,
    startup_timeout: float = 60.0,
) -> AsyncIterator[AsyncMCPGateway]:
    """The asyncio form of :func:`local_gateway` (start-up and stop run in a thread)."""
    import asyncio

    process = GatewayProcess(
        config, master_key=master_key, env=env, binary=binary, startup_timeout=startup_timeout
    )
    await asyncio.to_thread(process.start)
    try:
        async with AsyncMCPGateway(process.url, process.master_key or "") as client:
            yield client
    finally:
        await asyncio.to_thread(process.stop)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: str, lines: int = 30) -> str:
    return "\n".join(log.strip().splitlines()[-lines:]) or "(nothing logged)"
