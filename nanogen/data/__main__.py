"""`python -m nanogen.data download [mnist|fashion_mnist|all] | info | verify`.

One line per action on stdout; exit status 1 with the instructions on stderr on failure (the Makefile runs `python -m nanogen.data download` while setting up).
"""

import argparse
import sys

from .datasets import DATASETS, ChecksumError, DatasetNotFoundError, download, info, verify


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nanogen.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="put a data set in the cache from whichever source works")
    d.add_argument("name", nargs="?", default="mnist", help=f"{', '.join(DATASETS)} or all (default mnist)")
    sub.add_parser("info", help="where each data set is, or would come from")
    v = sub.add_parser("verify", help="re-check the cached data sets")
    v.add_argument("names", nargs="*", help="data sets to check (default: every cached one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            names = list(DATASETS) if args.name == "all" else [args.name]
            for name in names:
                download(name, log=lambda msg: print(msg, flush=True))   # one line per action
        elif args.command == "info":
            print(info())
        else:
            print(verify(args.names or None))
    except (DatasetNotFoundError, ChecksumError, ValueError) as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
