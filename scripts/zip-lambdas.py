#!/usr/bin/env python3
"""Zips each cargo-lambda output for deployment and prints the sizes.

    scripts/zip-lambdas.py LAMBDA_DIR FUNCTION...

LAMBDA_DIR/<function>/bootstrap -> LAMBDA_DIR/<function>.zip holding one entry, `bootstrap`,
mode 0755 (Lambda's provided.al2023 runtime executes it). Timestamps are fixed, so the same
binary gives the same zip and `sam deploy` uploads nothing new for an unchanged function.
"""

import os
import sys
import zipfile


def mib(n):
    return f"{n / (1024 * 1024):6.1f} MiB"


def main(argv):
    if len(argv) < 3:
        print(f"usage: {argv[0]} LAMBDA_DIR FUNCTION...", file=sys.stderr)
        return 2
    base, missing = argv[1], []
    for name in argv[2:]:
        src = os.path.join(base, name, "bootstrap")
        dst = os.path.join(base, name + ".zip")
        if not os.path.isfile(src):
            missing.append(src)
            continue
        entry = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = (0o100755 & 0xFFFF) << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
            z.writestr(entry, f.read(), compresslevel=9)
        print(f"{name:20} bootstrap {mib(os.path.getsize(src))}   {dst} {mib(os.path.getsize(dst))}")
    for m in missing:
        print(f"zip-lambdas: {m} is missing (did cargo lambda build it?)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
