"""Headless Chromium for the annual report: find or install it, print a report to PDF, dump its DOM.

    python scripts/chromium.py install          # apt-get install chromium (+ a CJK font) when missing
    python scripts/chromium.py path             # the browser binary (exit 1 when absent)
    python scripts/chromium.py pdf REPORT.html [--out REPORT.pdf]
    python scripts/chromium.py dom REPORT.html  # the DOM after loading, offline (no network at all)

A thin command line over ``ingest.report`` (``find_chromium``, ``ensure_chromium``, ``print_pdf``,
``dump_dom``), where the logic lives so that ``reform report --pdf`` and the tests share it. Installing
needs root (Debian's ``chromium`` package; ``fonts-wqy-zenhei`` too when no Chinese font is present,
or the PDF's Chinese would print as empty boxes) and is idempotent: nothing is installed when the
browser and a Chinese font are already there.

From Python (``scripts/`` is not a package; load this file by path, or import ``ingest.report``)::

    from ingest.report import ensure_chromium, print_pdf
    browser = ensure_chromium()            # Path('/usr/bin/chromium'); installs on first use
    print_pdf(Path("530700_2025.html"))    # → 530700_2025.pdf beside it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from ingest.report import ChromiumError, dump_dom, ensure_chromium, find_chromium, print_pdf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="chromium.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Debian's chromium (and a Chinese font) when missing")
    sub.add_parser("path", help="print the browser binary; exit 1 when it is not installed")
    pdf = sub.add_parser("pdf", help="print an HTML file to PDF with headless Chromium")
    pdf.add_argument("html", type=Path)
    pdf.add_argument("--out", type=Path, help="PDF to write (default: beside the HTML, .pdf)")
    dom = sub.add_parser("dom", help="print the DOM of an HTML file after loading it with the network cut off")
    dom.add_argument("html", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            browser, seconds = ensure_chromium(timed=True)
            print(f"{browser} ({'installed in ' + format(seconds, '.0f') + ' s' if seconds else 'already installed'})")
        elif args.command == "path":
            browser = find_chromium()
            if browser is None:
                print("chromium is not installed; run `python scripts/chromium.py install` (as root)", file=sys.stderr)
                return 1
            print(browser)
        elif args.command == "pdf":
            print(print_pdf(args.html, args.out))
        else:
            sys.stdout.write(dump_dom(args.html))
    except (ChromiumError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
