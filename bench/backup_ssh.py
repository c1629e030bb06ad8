"""Backup of a >= 1 GiB sandbox database to the workstation over SSH: phase 01 versus ssh + scp.

The database is a sandbox's ``backend/ultrazend.sqlite`` with 3.6 million emails (generated once
by ``sandbox up --emails 3600000`` into ``bench/.cache/``), copied into a temporary "host" folder
(on the tmpfs ``/dev/shm`` when it has room, so that the VM's disk writeback, which varied
from 5 to 20 s per GiB here, is not what is measured) and reached through a real OpenSSH ``sshd`` on 127.0.0.1 (:class:`runbook.sshd.LocalSshd`, its
own throwaway keys and known_hosts) - the setup of ``params/sandbox-ssh.yaml``.

- baseline, the seed's way with OpenSSH's own clients and the same key and known_hosts
  (``-o UserKnownHostsFile=... -o StrictHostKeyChecking=yes``)::

      ssh host "sqlite3 DB '.backup /x'" && scp host:/x .

- ours, phase 01's library calls through an :class:`runbook.ssh.SSHTarget` (connection
  included)::

      # VACUUM INTO, then integrity_check, foreign_key_check and sha256sum on the host while the
      # copy streams to LOCAL, hashed on the way and compared with the host's SHA-256
      b = backup.snapshot(target, DB, BACKUP_DIR, fetch_to=LOCAL)
      schema.row_counts(LOCAL)   # phase 01 counts the fetched copy once; later phases reuse it

Ours does more than the baseline (a consistent copy under writers, two integrity checks and a
checksum verified end to end); the split of its time is printed per run.

Usage: ``.venv/bin/python bench/backup_ssh.py [--quick] [--runs N]``
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (cached_db, file_size_gib, finish, fmt, median, parse_args, say, setup, tmpdir)

NAME = "backup_ssh"
EMAILS = 3_600_000
QUICK_EMAILS = 2_000
GOAL = 1.0
STEP_TIMEOUT = 900


def ssh_opts(sshd) -> list[str]:
    return ["-i", str(sshd.client_key), "-o", f"UserKnownHostsFile={sshd.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=10"]


def baseline(sshd, db: Path, remote_copy: Path, local_dir: Path) -> dict:
    """``ssh host "sqlite3 DB '.backup X'" && scp host:X .`` with OpenSSH's clients."""
    dest = f"{sshd.user}@{sshd.host}"
    t0 = time.monotonic()
    remote_cmd = shlex.join(["sqlite3", str(db), f".backup {remote_copy}"])
    subprocess.run(["ssh", *ssh_opts(sshd), "-p", str(sshd.port), dest, remote_cmd],
                   check=True, capture_output=True, timeout=STEP_TIMEOUT)
    t1 = time.monotonic()
    subprocess.run(["scp", "-q", *ssh_opts(sshd), "-P", str(sshd.port), f"{dest}:{remote_copy}", str(local_dir) + "/"],
                   check=True, capture_output=True, timeout=STEP_TIMEOUT)
    t2 = time.monotonic()
    got = local_dir / remote_copy.name
    if got.stat().st_size != remote_copy.stat().st_size:
        raise RuntimeError("scp copied a different size")
    return {"total_s": t2 - t1 + (t1 - t0), "backup_s": t1 - t0, "transfer_s": t2 - t1, "bytes": got.stat().st_size}


def ours(sshd, db: Path, backup_dir: Path, local_dir: Path) -> dict:
    """Phase 01's calls (``steps.take_snapshot``): the snapshot fetched over an SSHTarget, then counted."""
    from runbook import backup, schema
    from runbook.ssh import SSHTarget

    t0 = time.monotonic()
    local = local_dir / "snapshot_before.sqlite"
    with SSHTarget.from_params(sshd.target_params()) as target:
        b = backup.snapshot(target, str(db), str(backup_dir), fetch_to=local)
    t1 = time.monotonic()
    schema.row_counts(local)
    t2 = time.monotonic()
    if not b.verified:
        raise RuntimeError(f"the snapshot was not verified: {b}")
    return {"total_s": t2 - t0, "vacuum_into_s": b.seconds, "verify_and_fetch_s": t1 - t0 - b.seconds,
            "count_s": t2 - t1, "bytes": local.stat().st_size, "integrity": b.integrity}


def main() -> int:
    args = parse_args(__doc__, runs=3)
    emails = QUICK_EMAILS if args.quick else EMAILS
    from runbook.sshd import LocalSshd, ensure_sshd_installed

    cache = cached_db(emails)
    size = file_size_gib(cache)
    if not args.quick and size < 1.0:
        raise SystemExit(f"{cache} is only {size:.2f} GiB; raise EMAILS in bench/backup_ssh.py")
    # The host's database, its snapshot and the fetched copy: in memory when there is room (3 copies).
    work = tmpdir("backup", in_memory_bytes=4 * cache.stat().st_size)
    sshd = None
    try:
        host = work / "host"
        host.mkdir()
        db = host / "ultrazend.sqlite"
        shutil.copyfile(cache, db)
        ensure_sshd_installed()
        sshd = LocalSshd(work / "sshd").start()
        setup(NAME, database=f"sandbox database, {emails} emails, {size:.2f} GiB ({size * 2**30 / 1e9:.2f} GB) at {db}",
              transport=f"OpenSSH sshd on 127.0.0.1:{sshd.port} (LocalSshd, ed25519 key, strict known_hosts)",
              storage=f"{work} ({'tmpfs: the disk is out of the measurement' if str(work).startswith('/dev/shm') else 'disk'}; "
                      "host and workstation folders on the same file system for both sides)",
              baseline="ssh host \"sqlite3 DB '.backup X'\" && scp host:X . (OpenSSH clients)",
              ours="backup.snapshot(..., fetch_to=LOCAL) through SSHTarget, then schema.row_counts(LOCAL) (phase 01)",
              runs=f"{args.runs} per side, alternating; host copies and local files deleted after each run")
        runs = {"baseline": [], "ours": []}
        for i in range(args.runs):
            for side in ("baseline", "ours"):
                local = work / f"local-{side}-{i}"
                local.mkdir()
                remote = work / f"remote-{side}-{i}"
                remote.mkdir()
                if side == "baseline":
                    r = baseline(sshd, db, remote / "x.sqlite", local)
                else:
                    r = ours(sshd, db, remote, local)
                shutil.rmtree(local)
                shutil.rmtree(remote)
                runs[side].append(r)
                detail = ", ".join(f"{k} {fmt(v)}" for k, v in r.items() if k.endswith("_s") and k != "total_s")
                say(f"run {i + 1} {side:8}: {fmt(r['total_s'])} ({r['bytes'] / 2**20:.0f} MiB, "
                    f"{r['bytes'] / 2**20 / r['total_s']:.0f} MiB/s overall; {detail})")
        med = {side: {k: median([r[k] for r in rs]) for k in rs[0] if k.endswith("_s")} for side, rs in runs.items()}
        for side in ("baseline", "ours"):
            say(f"median {side}: " + ", ".join(f"{k} {fmt(v)}" for k, v in med[side].items()))
        ratio = med["ours"]["total_s"] / med["baseline"]["total_s"]
        finish(NAME, med["ours"]["total_s"], med["baseline"]["total_s"], quick=args.quick,
               goal=f"ours/baseline time <= {GOAL}", met=ratio <= GOAL,
               extra={"medians": med, "emails": emails, "size_gib": size}, runs=runs)
        return 0
    finally:
        if sshd is not None:
            sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
