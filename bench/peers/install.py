"""Install the benchmark peers into ``bench/peers/.install/`` (git-ignored), idempotently.

- node-oidc-provider: ``npm ci`` of the exact versions pinned in ``node/package-lock.json``
  (``node/package.json`` names them; the lockfile pins every transitive package and its
  integrity hash). Skipped when the installed tree was made from the same two files.
- plain django-oauth-toolkit: nothing to download (it runs from the project's virtualenv,
  where django-oauth-toolkit is a dependency of authsite); this writes its OIDC RSA key once.

Every step is bounded (``npm ci`` gets ``NPM_TIMEOUT`` seconds). Run by the targets before they
start a peer, or by hand: ``python bench/peers/install.py [dot|node|all]``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parent
INSTALL = PEERS / ".install"
NODE_SOURCE = PEERS / "node"
NODE_INSTALL = INSTALL / "node"
DOT_INSTALL = INSTALL / "dot"
DOT_RSA_KEY = DOT_INSTALL / "oidc-rsa.pem"
NPM_TIMEOUT = 300
MANIFESTS = ("package.json", "package-lock.json")


class PeerUnavailable(RuntimeError):
    """A peer cannot be installed on this machine (e.g. no Node.js); the message says why."""


def _manifest_digest() -> str:
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update((NODE_SOURCE / name).read_bytes())
    return digest.hexdigest()


def node_available() -> str | None:
    """None when node and npm are on PATH, else the reason the node peer cannot run."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (the node-oidc-provider peer needs them)"
    return None


def ensure_node_peer() -> Path:
    """The install folder holding node_modules with the pinned packages; installs if needed."""
    if reason := node_available():
        raise PeerUnavailable(reason)
    stamp = NODE_INSTALL / ".installed-from"
    want = _manifest_digest()
    if (
        stamp.exists()
        and stamp.read_text().strip() == want
        and (NODE_INSTALL / "node_modules" / "oidc-provider").is_dir()
    ):
        return NODE_INSTALL
    NODE_INSTALL.mkdir(parents=True, exist_ok=True)
    for name in MANIFESTS:
        shutil.copyfile(NODE_SOURCE / name, NODE_INSTALL / name)
    try:
        subprocess.run(
            ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=NODE_INSTALL,
            check=True,
            timeout=NPM_TIMEOUT,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        raise PeerUnavailable(f"npm ci failed ({exc.returncode}):\n{exc.stderr[-2000:]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"npm ci took longer than {NPM_TIMEOUT}s") from exc
    stamp.write_text(want + "\n")
    return NODE_INSTALL


def ensure_dot_peer() -> Path:
    """The RSA key the plain DOT project signs ID tokens with (made once, kept)."""
    try:
        import oauth2_provider  # noqa: F401  (lazy: only to say clearly that it is missing)
    except ImportError as exc:
        raise PeerUnavailable("django-oauth-toolkit is not installed in this Python") from exc
    if not DOT_RSA_KEY.exists():
        # lazy: only the first run makes a key
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        DOT_INSTALL.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        partial = DOT_RSA_KEY.with_suffix(".tmp")
        partial.write_bytes(pem)
        partial.chmod(0o600)
        partial.replace(DOT_RSA_KEY)
    return DOT_RSA_KEY


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "all"
    try:
        if which in ("dot", "all"):
            print(f"dot: {ensure_dot_peer()}")
        if which in ("node", "all"):
            print(f"node: {ensure_node_peer()}")
    except PeerUnavailable as exc:
        print(f"{which}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
