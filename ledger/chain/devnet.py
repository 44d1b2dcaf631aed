"""Local chains behind one interface: the pinned anvil (a real node over HTTP) and in-process py-evm.

Both run chain id 31337, the Prague fork (the contracts' ``evmVersion``) and fund the same ten
accounts of the dev mnemonic, so one conformance suite runs unchanged on either. anvil is what the
demo and the fault tests use (persistent state, a real socket, ``kill -9``); py-evm lets the core
run and be tested without Node.

Test helpers (snapshot/revert, time travel) are part of the interface because both backends have
them; a real network (``backend = "rpc"``) has none and is reached with :func:`connect_rpc`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from web3 import Web3

from ledger.errors import ChainUnavailable, ConfigError
from ledger.settings import DEV_MNEMONIC, DEVNET_CHAIN_ID

log = logging.getLogger("ledger.chain.devnet")

__all__ = [
    "DEVNET_HARDFORK",
    "Devnet",
    "AnvilDevnet",
    "PyEvmDevnet",
    "anvil_binary",
    "free_port",
    "connect_rpc",
    "wait_for_rpc",
    "ManagedDevnet",
    "AnvilControl",
]

DEVNET_HARDFORK = "prague"
_DEV_BALANCE_ETH = 10_000
_HARDHAT_FREE = Path(__file__).resolve().parents[2] / "hardhat-free-devnet"


class Devnet(Protocol):
    """A local development chain."""

    chain_id: int

    @property
    def w3(self) -> Web3: ...

    @property
    def rpc_url(self) -> str | None:
        """HTTP endpoint for other processes, or None for an in-process chain."""

    def snapshot(self) -> Any: ...

    def revert(self, snapshot_id: Any) -> None: ...

    def set_next_block_timestamp(self, timestamp: int) -> None: ...

    def mine(self, blocks: int = 1) -> None: ...

    def close(self) -> None: ...


def anvil_binary() -> Path:
    """The anvil executable from the pinned npm packages (platform package first, then the wrapper)."""
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = platform.system().lower()
    candidates = [
        _HARDHAT_FREE / "node_modules" / "@foundry-rs" / f"anvil-{system}-{machine}" / "bin" / "anvil",
        _HARDHAT_FREE / "node_modules" / ".bin" / "anvil",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError("anvil is not installed: run `npm ci` in hardhat-free-devnet/ (./run does this)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rpc_chain_id(url: str, timeout: float) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(json.loads(response.read())["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def wait_for_rpc(url: str, timeout_s: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> int:
    """Wait until ``url`` answers ``eth_chainId``; returns the chain id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChainUnavailable(f"the node at {url} exited with code {process.returncode} while starting")
        chain_id = _rpc_chain_id(url, timeout=1.0)
        if chain_id is not None:
            return chain_id
        time.sleep(0.05)
    raise ChainUnavailable(f"no JSON-RPC answer from {url} within {timeout_s:.0f} s")


def connect_rpc(url: str, timeout_s: float = 10.0) -> Web3:
    """A Web3 for any EVM JSON-RPC endpoint."""
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout_s}))


class AnvilDevnet:
    """The pinned anvil as a child process on 127.0.0.1.

    ``state_file`` makes the chain persistent (``--state`` with ``--state-interval 1``): a restarted
    devnet keeps its blocks and logs, which is what the demo relies on.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        block_time_s: float | None = None,
        state_file: Path | None = None,
        log_file: Path | None = None,
        accounts: int = 10,
        mnemonic: str = DEV_MNEMONIC,
        genesis_time: int | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.block_time_s = block_time_s
        self.state_file = state_file
        self.log_file = log_file
        self.accounts = accounts
        self.mnemonic = mnemonic
        self.genesis_time = genesis_time
        self.chain_id = DEVNET_CHAIN_ID
        self.process: subprocess.Popen[bytes] | None = None
        self._w3: Web3 | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            self._w3 = connect_rpc(self.rpc_url)
        return self._w3

    def command(self) -> list[str]:
        """The anvil command line this devnet runs."""
        cmd = [
            str(anvil_binary()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--hardfork", DEVNET_HARDFORK,
            "--mnemonic", self.mnemonic,
            "--accounts", str(self.accounts),
            "--balance", str(_DEV_BALANCE_ETH),
        ]  # fmt: skip
        if self.block_time_s:
            cmd += ["--block-time", str(self.block_time_s)]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file), "--state-interval", "1"]
        if self.genesis_time is not None:  # the genesis block's timestamp (a chain that starts in the past)
            cmd += ["--timestamp", str(self.genesis_time)]
        return cmd

    def start(self, timeout_s: float = 30.0) -> AnvilDevnet:
        """Start anvil and wait until it answers.

        anvil rewrites its state file in place every second, so a node killed with SIGKILL in the
        middle of a write leaves a file it cannot read back (it exits with code 2). Then the
        unreadable file is kept aside (``*.unreadable``) and the node starts from the copy of the
        state it last started from (``*.last-good``): like a node restored from an older snapshot,
        it has lost its latest blocks, which the relayer and the indexer recover from."""
        if self.process is not None and self.process.poll() is None:
            return self
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            chain_id = self._launch(timeout_s)
        except ChainUnavailable:
            if not self._fall_back_to_last_good_state():
                raise
            chain_id = self._launch(timeout_s)
        if self.state_file is not None and self.state_file.exists():
            shutil.copyfile(self.state_file, self._last_good)  # it loaded: the copy to fall back to
        if chain_id != self.chain_id:
            self.close()
            raise ChainUnavailable(f"{self.rpc_url} answers chain id {chain_id}, not {self.chain_id}: port taken?")
        return self

    @property
    def _last_good(self) -> Path:
        assert self.state_file is not None
        return self.state_file.with_name(self.state_file.name + ".last-good")

    def _launch(self, timeout_s: float) -> int:
        sink = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command(), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            if self.log_file:
                sink.close()  # type: ignore[union-attr]
        try:
            return wait_for_rpc(self.rpc_url, timeout_s, self.process)
        except ChainUnavailable as exc:
            if self.log_file is None or not self.log_file.exists():
                raise
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise ChainUnavailable(f"{exc}; its log ends: {' | '.join(tail)}") from exc

    def _fall_back_to_last_good_state(self) -> bool:
        """After a failed start: set an unreadable state file aside for the last good one."""
        if self.process is None or self.process.poll() is None or self.state_file is None:
            return False
        if not self.state_file.exists() or not self._last_good.exists() or _readable_json(self.state_file):
            return False
        aside = self.state_file.with_name(self.state_file.name + ".unreadable")
        self.state_file.replace(aside)
        shutil.copyfile(self._last_good, self.state_file)
        log.warning(
            "anvil could not read %s (killed mid-write?): kept it as %s, starting from the last good state",
            self.state_file,
            aside,
        )
        return True

    def kill(self) -> None:
        """``kill -9`` the node (fault tests); the state file keeps what was flushed."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def close(self) -> None:
        """Stop the node gracefully (anvil writes its state on SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def _call(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainUnavailable(f"{method} failed: {response['error']}")
        return response.get("result")

    def snapshot(self) -> Any:
        return self._call("evm_snapshot", [])

    def revert(self, snapshot_id: Any) -> None:
        if not self._call("evm_revert", [snapshot_id]):
            raise ChainUnavailable(f"evm_revert({snapshot_id}) was refused")

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self._call("evm_setNextBlockTimestamp", [timestamp])

    def mine(self, blocks: int = 1) -> None:
        self._call("anvil_mine", [hex(blocks)])

    def reorg(self, depth: int) -> None:
        """Replace the last ``depth`` blocks with empty ones (``anvil_reorg``)."""
        self._call("anvil_reorg", [depth, []])

    def control(self) -> AnvilControl:
        """Mining and clock controls of this node."""
        return AnvilControl(self.w3)

    def __enter__(self) -> AnvilDevnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class AnvilControl:
    """anvil's mining and clock controls over any connection to it (a child or the managed devnet).

    The demo's seed uses them to write a past year quickly: automine with a fixed one-second step
    between blocks, a jump to each simulated day, then back to interval mining at wall-clock time.
    """

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def call(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainUnavailable(f"{method} failed: {response['error']}")
        return response.get("result")

    def automine(self) -> bool:
        """Whether every transaction is mined at once (``anvil_getAutomine``)."""
        return bool(self.call("anvil_getAutomine", []))

    def set_automine(self, enabled: bool) -> None:
        self.call("evm_setAutomine", [enabled])

    def set_interval_mining(self, seconds: int) -> None:
        """Mine a block every ``seconds`` (and no longer on each transaction)."""
        self.call("evm_setIntervalMining", [seconds])

    def set_block_timestamp_interval(self, seconds: int | None) -> None:
        """Each new block ``seconds`` after the previous one, whatever the wall clock says (None: undo)."""
        if seconds is None:
            self.call("anvil_removeBlockTimestampInterval", [])
        else:
            self.call("anvil_setBlockTimestampInterval", [seconds])

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.call("evm_setNextBlockTimestamp", [timestamp])

    def mine(self) -> None:
        self.call("evm_mine", [])

    def head_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])


class PyEvmDevnet:
    """An in-process chain on py-evm through web3's ``EthereumTesterProvider``."""

    rpc_url = None

    def __init__(self, accounts: int = 10, mnemonic: str = DEV_MNEMONIC) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3.providers.eth_tester import EthereumTesterProvider
        from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return

        backend = PyEVMBackend.from_mnemonic(
            mnemonic,
            num_accounts=accounts,
            hd_path="m/44'/60'/0'/0",
            genesis_state_overrides={"balance": _DEV_BALANCE_ETH * 10**18},
        )
        # eth-tester hard-codes its own chain id; the devnet contract is chain id 31337 everywhere.
        type(backend.chain).chain_id = DEVNET_CHAIN_ID
        self.tester = EthereumTester(backend)
        endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = static_return(DEVNET_CHAIN_ID)
        self.chain_id = DEVNET_CHAIN_ID
        self._w3 = Web3(EthereumTesterProvider(self.tester, api_endpoints=endpoints))

    @property
    def w3(self) -> Web3:
        return self._w3

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snapshot_id: Any) -> None:
        self.tester.revert_to_snapshot(snapshot_id)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.tester.time_travel(timestamp)

    def mine(self, blocks: int = 1) -> None:
        self.tester.mine_blocks(blocks)

    def close(self) -> None:
        """Nothing to release: the chain lives and dies with the process."""


class ManagedDevnet:
    """The demo's long-lived anvil: started detached, found again through its pid file.

    Its chain lives in ``<data_dir>/state.json`` (flushed every second), so ``down`` then ``up``
    (or a crash) keeps every block and log.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8545,
        block_time_s: float | None = None,
        genesis_time: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.block_time_s = block_time_s
        # Timestamp of the genesis block of a NEW chain (the demo's seed starts a year ago); a chain
        # that already has a state file keeps its own history and ignores it.
        self.genesis_time = genesis_time
        self.pid_file = data_dir / "anvil.pid"
        self.state_file = data_dir / "state.json"
        self.log_file = data_dir / "anvil.log"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pid(self) -> int | None:
        """The pid of our running anvil, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    def is_up(self) -> bool:
        return _rpc_chain_id(self.rpc_url, timeout=1.0) == DEVNET_CHAIN_ID

    def up(self, timeout_s: float = 30.0) -> bool:
        """Start anvil unless ours already answers; True when this call started it."""
        if self.pid() is not None and self.is_up():
            return False
        if _rpc_chain_id(self.rpc_url, timeout=1.0) is not None:
            raise ChainUnavailable(f"something else answers at {self.rpc_url}; set devnet.port to a free port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not self.state_file.exists()
        command = AnvilDevnet(
            host=self.host,
            port=self.port,
            block_time_s=self.block_time_s,
            state_file=self.state_file,
            genesis_time=self.genesis_time if fresh else None,
        ).command()
        # posix_spawn in a new session, not subprocess: the node must outlive this process, and a
        # Popen object that is dropped while its child runs is (rightly) reported as a leak.
        pid = os.posix_spawn(
            command[0],
            command,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        self.pid_file.write_text(f"{pid}\n")
        deadline = time.monotonic() + timeout_s
        while not self.is_up():
            exited, _status = os.waitpid(pid, os.WNOHANG)
            if exited or time.monotonic() > deadline:
                self.pid_file.unlink(missing_ok=True)
                raise ChainUnavailable(f"anvil did not come up at {self.rpc_url}; see {self.log_file}")
            time.sleep(0.05)
        return True

    def down(self, timeout_s: float = 15.0) -> bool:
        """Stop our anvil (SIGTERM, so it writes its state); True when one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):  # reap it when it is our child
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _readable_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            json.load(handle)
    except (OSError, ValueError):
        return False
    return True
