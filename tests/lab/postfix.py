"""A real Postfix: one master in the foreground, two smtpd services (mx1/mx2.good.test).

Everything lives in the lab's temp dir (config, queue, data, log); the system's
/etc/postfix is never read or written. master.cf overrides myhostname and the
certificate per listening address, so one master serves both names.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import time
from collections import Counter
from pathlib import Path

from tests.lab.net import listening
from tests.lab.pki import LabCA, TlsKind
from tests.lab.process import LabError, Process, wait_for
from tests.lab.spec import LabSpec, PostfixHost

MASTER = "/usr/lib/postfix/sbin/master"


def _syslog_name(host: PostfixHost) -> str:
    return f"postfix/{host.host}"


def to_main_cf(spec: LabSpec, directory: Path) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
meta_directory = {directory}/etc
daemon_directory = /usr/lib/postfix/sbin
command_directory = /usr/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {directory}
maillog_file = {directory}/maillog
myhostname = {spec.postfix[0].host}
mydomain = good.test
myorigin = $myhostname
# Postfix insists that named interface addresses exist on an interface; 127.A.B.x
# does not (lo has 127.0.0.1/8). master.cf binds the exact ip:port anyway.
inet_interfaces = all
inet_protocols = ipv4
mynetworks =
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = reject
smtpd_recipient_restrictions = reject
smtpd_banner = $myhostname ESMTP Postfix
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
biff = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
"""


def to_master_cf(spec: LabSpec, certs: dict[str, tuple[Path, Path]]) -> str:
    lines = []
    for host in spec.postfix:
        cert, key = certs[host.host]
        lines.append(
            f"{host.ip}:25 inet n - n - - smtpd"
            f" -o myhostname={host.host}"
            f" -o syslog_name={_syslog_name(host)}"
            f" -o smtpd_tls_cert_file={cert}"
            f" -o smtpd_tls_key_file={key}"
        )
    lines += [
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "anvil unix - - n - 1 anvil",
        "rewrite unix - - n - - trivial-rewrite",
        "proxymap unix - - n - - proxymap",
        "postlog unix-dgram n - n - 1 postlogd",
    ]
    return "\n".join(lines) + "\n"


class Postfix:
    """The running master, and what its log says."""

    def __init__(self, spec: LabSpec, directory: Path, process: Process) -> None:
        self.spec = spec
        self.directory = directory
        self.process = process

    @property
    def maillog(self) -> Path:
        return self.directory / "maillog"

    def connections(self) -> Counter[str]:
        """Connections per lab address, from smtpd's "connect from" log lines."""
        by_name = {_syslog_name(host): host.ip for host in self.spec.postfix}
        counts: Counter[str] = Counter()
        try:
            text = self.maillog.read_text(errors="replace")
        except OSError:
            return counts
        for match in re.finditer(r" (postfix/\S+?)/smtpd\[\d+\]: connect from ", text):
            ip = by_name.get(match.group(1))
            if ip:
                counts[ip] += 1
        return counts

    def stop(self) -> None:
        self.process.stop()


def _make_dirs(directory: Path) -> None:
    postfix = pwd.getpwnam("postfix")
    postdrop = grp.getgrnam("postdrop").gr_gid
    for sub, owner, group, mode in (
        ("etc", 0, 0, 0o755),
        ("queue", 0, 0, 0o755),
        ("queue/pid", 0, 0, 0o755),
        ("queue/private", postfix.pw_uid, 0, 0o700),
        ("queue/public", postfix.pw_uid, postdrop, 0o710),
        ("queue/maildrop", postfix.pw_uid, postdrop, 0o730),
        ("data", postfix.pw_uid, 0, 0o700),
    ):
        path = directory / sub
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, owner, group)
        path.chmod(mode)


def start_postfix(spec: LabSpec, ca: LabCA, directory: Path, *, wait_s: float = 15.0) -> Postfix:
    """Configure and start Postfix; return once every smtpd address accepts connections."""
    if not Path(MASTER).exists():
        raise LabError("Postfix not found: run scripts/install-system-deps.sh")
    try:
        _make_dirs(directory)
    except KeyError as error:
        raise LabError(
            f"Postfix user/group missing ({error}): reinstall the postfix package"
        ) from None
    certs = {}
    for host in spec.postfix:
        files = ca.issue(host.host, TlsKind.LAB_CA)
        certs[host.host] = (files.cert, files.key)
    etc = directory / "etc"
    (etc / "main.cf").write_text(to_main_cf(spec, directory))
    (etc / "master.cf").write_text(to_master_cf(spec, certs))
    # Postfix re-reads a config file until its mtime is in the past (someone may still be
    # editing it); backdating saves up to two seconds at every start.
    past = time.time() - 10
    for name in ("main.cf", "master.cf"):
        os.utime(etc / name, (past, past))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MAIL_CONFIG": str(etc)}
    # -d: stay in the foreground; -c: our config directory, never /etc/postfix.
    process = Process.start(
        "postfix master", [MASTER, "-d", "-c", str(etc)], directory / "master.log", env
    )

    def ready() -> bool:
        process.raise_if_exited()
        return all(listening(host.ip, 25) for host in spec.postfix)

    try:
        wait_for(ready, wait_s, "Postfix to listen on " + ", ".join(h.ip for h in spec.postfix))
    except LabError as error:
        process.stop()
        maillog = Postfix(spec, directory, process).maillog
        log = maillog.read_text(errors="replace") if maillog.exists() else ""
        raise LabError(f"{error}\n{process.tail()}\n{log[-2000:]}") from None
    return Postfix(spec, directory, process)
