"""Run Debian's nginx in front of an app server with crowdtest's configuration, for the
tests and the load benchmark (production uses the same template in docker-compose)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx") / "crowdtest.conf.template"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "nginx")


def nginx_binary() -> str | None:
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def render(values: dict[str, str]) -> str:
    """The template with its ${NAME} placeholders filled (nginx's own $names untouched);
    a placeholder without a value is an error, not an empty string."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for ${{{name}}} in {TEMPLATE.name}")
        return values[name]

    return re.sub(r"\$\{([A-Z_]+)\}", fill, TEMPLATE.read_text())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_nginx(
    *,
    upstream: str,
    clip_root: Path | str,
    static_root: Path | str,
    workdir: Path | str,
    port: int | None = None,
    worker_processes: int = 1,
) -> Iterator[str]:
    """nginx on 127.0.0.1:<port> (a free one by default) proxying to `upstream`
    ("127.0.0.1:8000"); yields its base URL and stops it afterwards."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx-light)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    server = render(
        {
            "UPSTREAM": upstream,
            "LISTEN": f"127.0.0.1:{port}",
            "STATIC_ROOT": str(Path(static_root).resolve()),
            "CLIP_ROOT": str(Path(clip_root).resolve()),
        }
    )
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would drop to `nobody`, who can't read a private folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = workdir / "nginx.conf"
    config.write_text(
        f"{user}worker_processes {worker_processes};\ndaemon off;\n"
        f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
        "events { worker_connections 8192; }\n"
        "http {\n    default_type application/octet-stream;\n"
        f"    access_log off;\n{temp}\n{server}\n}}\n"
    )
    process = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"nginx did not start: {error.strip()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not open its port in 10 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
