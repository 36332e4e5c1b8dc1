"""Bus authentication: the embedded server refuses clients without the node's credentials; a
``bus.url`` node presents ``bus.credentials_file``. Real nats-server, real daemons, real CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import nkeys
import pytest

from hydra_os.bus import names
from hydra_os.bus.auth import BusCredentials, load_credentials, local_credentials, server_auth_block
from hydra_os.bus.client import Bus
from hydra_os.bus.permissions import authorization_block
from hydra_os.config import BusConfig
from hydra_os.errors import BusError, ConfigError
from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, free_port

# nats-server closes the connection right after its -ERR; a client sees the error or the reset that
# overtook it (both seen in full runs)
REFUSED = r"Authorization Violation|Connection reset by peer"

pytestmark = pytest.mark.e2e


async def _refused(url: str, **auth: str) -> str:
    """Connect once without retries; return the server's refusal (fails the test when accepted)."""
    try:
        nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5, **auth)
    except (nats.errors.Error, OSError) as e:
        return str(e)
    await nc.close()
    raise AssertionError(f"{url} accepted a client with {sorted(auth)}")


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


def _hydra(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)


async def test_embedded_bus_refuses_clients_without_the_nodes_credentials(tmp_path: Path) -> None:
    d = DaemonProc("solo", tmp_path / "solo", daemon_env()).start()
    try:
        url = d.runtime["bus"][0]
        creds_path = d.state_dir / "bus-credentials"
        assert creds_path.stat().st_mode & 0o777 == 0o600
        assert (d.state_dir / "nats" / "server.conf").stat().st_mode & 0o777 == 0o600
        creds = local_credentials(d.state_dir)
        assert creds is not None and creds.user and creds.password

        assert re.search(REFUSED, await _refused(url))
        assert re.search(REFUSED, await _refused(url, user=creds.user, password="not-the-password"))
        assert re.search(REFUSED, await _refused(url, user="intruder", password=creds.password))

        async with Bus([url], BusConfig(), name="t", credentials=creds) as bus:
            kv = await bus.kv(names.NODES_BUCKET)
            assert (await kv.get("solo")).value

        # the CLI finds the daemon and its credentials through the state dir
        env = daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), HYDRA_NODE__ID="solo")
        r = _hydra(["nodes", "--json"], env)
        assert r.returncode == 0, r.stderr
        assert [n["id"] for n in json.loads(r.stdout)] == ["solo"]

        # the secret is on no command line and in no log
        nats_pid = d.client().get("/v1/status").json()["bus"]["embedded_pid"]
        assert creds.password not in _text(Path(f"/proc/{nats_pid}/cmdline"))
        assert creds.password not in d.logs()
        assert creds.password not in _text(d.state_dir / "nats" / "nats-server.log")
    finally:
        assert d.stop() == 0
    # a restart keeps the same credentials (the CLI's copy stays valid)
    assert local_credentials(d.state_dir) == creds


async def test_cluster_node_connects_with_bus_credentials_file(tmp_path: Path) -> None:
    conf = tmp_path / "server.conf"
    conf.write_text(server_auth_block([BusCredentials(user="alpha", password="s3cret-alpha")]))
    srv = NatsProc("authd", free_port(), tmp_path / "nats", config=conf).start()
    creds_file = tmp_path / "alpha.creds"
    creds_file.write_text("alpha:s3cret-alpha\n")
    creds_file.chmod(0o600)
    try:
        env = daemon_env(HYDRA_BUS__URL=srv.url, HYDRA_BUS__CREDENTIALS_FILE=str(creds_file))
        d = DaemonProc("alpha", tmp_path / "alpha", env).start()
        try:
            assert d.nodes() == ["alpha"]
            r = _hydra(["nodes", "--json"], env | {"HYDRA_NODE__STATE_DIR": str(tmp_path / "cli")})
            assert r.returncode == 0, r.stderr
            assert "s3cret-alpha" not in d.logs()
        finally:
            assert d.stop() == 0
        # without the file the node does not start, and says why in one line
        bare = DaemonProc("beta", tmp_path / "beta", daemon_env(HYDRA_BUS__URL=srv.url)).start(wait_ready=False)
        assert bare.proc is not None and bare.proc.wait(30) == 2
        assert re.search(REFUSED, bare.logs())
    finally:
        srv.stop()


async def test_credentials_file_formats(tmp_path: Path) -> None:
    kp = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    conf = tmp_path / "server.conf"
    conf.write_text(f'authorization {{ users = [ {{nkey: "{kp.public_key.decode()}"}} ] }}\n')
    srv = NatsProc("nk", free_port(), tmp_path / "nats", config=conf).start()
    try:
        seed_file = tmp_path / "node.nk"
        seed_file.write_bytes(kp.seed + b"\n")
        assert load_credentials(seed_file).nkey_seed == kp.seed.decode()
        async with Bus([srv.url], BusConfig(credentials_file=seed_file), name="nk") as bus:
            assert bus.status.connected
        with pytest.raises(BusError, match=REFUSED):
            await Bus([srv.url], BusConfig(connect_timeout=1.0)).connect()
    finally:
        srv.stop()
    bad = tmp_path / "bad"
    bad.write_text("just-a-password\n")
    with pytest.raises(ConfigError, match=r"bus credentials file .*bad: expected a NATS .creds file") as e:
        load_credentials(bad)
    assert "just-a-password" not in str(e.value)


def _node_user(tmp_path: Path, node: str) -> tuple[Path, dict[str, object]]:
    out = tmp_path / f"{node}.nk"
    r = _hydra(["bus", "user", node, "--out", str(out)], daemon_env())
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    entry = json.loads(r.stdout)
    assert out.read_text().strip() not in r.stdout  # the seed is only in the file
    return out, entry


async def test_a_node_cannot_write_another_nodes_entries(tmp_path: Path) -> None:
    alpha_creds, alpha = _node_user(tmp_path, "alpha")
    beta_creds, beta = _node_user(tmp_path, "beta")
    conf = tmp_path / "server.conf"
    conf.write_text(authorization_block([alpha, beta]))
    srv = NatsProc("perm", free_port(), tmp_path / "nats", config=conf).start()
    env = daemon_env(HYDRA_BUS__URL=srv.url, HYDRA_BUS__CREDENTIALS_FILE=str(alpha_creds),
                     HYDRA_NODE__ROLES="gateway,worker,scheduler")
    d = DaemonProc("alpha", tmp_path / "alpha", env).start()
    try:
        assert d.nodes() == ["alpha"]  # the restricted node runs normally
        r = _hydra(["nodes", "--json"], env | {"HYDRA_NODE__STATE_DIR": str(tmp_path / "cli")})
        assert r.returncode == 0, r.stderr

        cfg = BusConfig(credentials_file=beta_creds, request_timeout=1.0)
        async with Bus([srv.url], cfg, name="beta") as bus:
            nodes = await bus.kv(names.NODES_BUCKET)
            models = await bus.kv(names.MODELS_BUCKET)
            before = (await nodes.get("alpha")).value or b""
            for kv, key in ((nodes, "alpha"), (models, "alpha.evil")):  # impersonation: refused
                with pytest.raises(nats.errors.TimeoutError):
                    await kv.put(key, b'{"id": "alpha", "base_url": "http://attacker"}')
            with pytest.raises(nats.errors.TimeoutError):
                await bus.js.purge_stream(f"KV_{names.MODELS_BUCKET}")
            assert "permissions violation" in (bus.status.last_error or "").lower()
            assert ((await nodes.get("alpha")).value or b"").startswith(before[:20])  # alpha's own entry stands
            with pytest.raises(nats.js.errors.KeyNotFoundError):
                await models.get("alpha.evil")
            await nodes.put("beta", b"{}")  # its own keys: allowed
            await models.put("beta.m", b"{}")
    finally:
        assert d.stop() == 0
        srv.stop()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates")
async def test_tls_with_the_configured_ca(tmp_path: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=hydra-test-ca", cwd=tmp_path)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
             "-subj", "/CN=localhost", cwd=tmp_path)
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "srv.pem", "-days", "1", "-extfile", "san.ext", cwd=tmp_path)
    conf = tmp_path / "tls.conf"
    conf.write_text(f'tls {{ cert_file: "{tmp_path / "srv.pem"}", key_file: "{tmp_path / "srv.key"}" }}\n')
    srv = NatsProc("tls", free_port(), tmp_path / "nats", config=conf).start()
    url = f"tls://127.0.0.1:{srv.port}"
    try:
        async with Bus([url], BusConfig(tls_ca_file=tmp_path / "ca.pem"), name="tls") as bus:
            assert bus.status.connected and bus.nc.connected_url is not None
        with pytest.raises(BusError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await Bus([url], BusConfig(connect_timeout=1.0)).connect()  # the system CAs do not know it
    finally:
        srv.stop()
    with pytest.raises(ValueError, match="tls_key_file needs tls_cert_file"):
        BusConfig(tls_key_file=tmp_path / "srv.key")
