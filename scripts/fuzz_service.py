"""A bounded schemathesis run against a real ``prelabel serve`` on 127.0.0.1, set up as for a team (bearer token,
one storage root, python: models off), with a model, an endpoint config and an endpoint to find. ``make fuzz``.

Exit status: schemathesis's (0 = no check failed: no 5xx, every answer as the OpenAPI document says).

    python scripts/fuzz_service.py [--max-time 120] [--workers 2] [--seed N] [--report-dir DIR] [-- st options]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-time", type=int, default=120, help="seconds of fuzzing (schemathesis --max-time)")
    ap.add_argument("--workers", default="2", help="concurrent schemathesis workers")
    ap.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    ap.add_argument("--report-dir", default=None, help="write a JUnit report there")
    ap.add_argument("extra", nargs="*", help="more `st run` options (after --)")
    args = ap.parse_args(argv)

    from prelabel.service.launch import ServiceProcess

    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if st is None:
        print("schemathesis is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="prelabel-fuzz-") as tmp:
        work = Path(tmp)
        root = work / "root"
        (root / "frames").mkdir(parents=True)
        frame = REPO / "examples" / "sample_frames"
        for f in sorted(frame.glob("*.png"))[:1]:
            shutil.copy(f, root / "frames" / f.name)
        with ServiceProcess(work / "state", roots=[root], token=token, tick_s=0.25, cwd=REPO) as svc:
            with svc.client() as c:  # something to find besides 404s
                c.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
                c.create_endpoint_config("cfg", "ssd", output_path=str(root / "out"))
                c.create_endpoint("ep", "cfg")
            cmd = [st, "--config-file", str(REPO / "scripts" / "schemathesis.toml"), "run", f"{svc.url}/openapi.json"]
            cmd += ["--header", f"Authorization: Bearer {token}"]
            cmd += ["--max-time", str(args.max_time), "--workers", str(args.workers), "--request-timeout", "30"]
            cmd += ["--checks", "all"]
            if args.seed is not None:
                cmd += ["--seed", str(args.seed)]
            if args.report_dir:
                cmd += ["--report", "junit", "--report-dir", args.report_dir]
            cmd += args.extra
            t0 = time.monotonic()
            rc = subprocess.call(cmd, cwd=work)
            errors = [ln for ln in svc.log_file.read_text(errors="replace").splitlines() if "unexpected" in ln]
            print(f"fuzzing took {time.monotonic() - t0:.0f} s; server log lines with unexpected errors: {len(errors)}")
            for line in errors[:20]:
                print("  " + line)
            return rc if not errors else (rc or 1)


if __name__ == "__main__":
    sys.exit(main())
