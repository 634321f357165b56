"""The `qipstudy` command: helpers for users of the workflow (`qipstudy country-check XXX`)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qipstudy", description="Helpers for the QIP study workflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "country-check",
        help="check config/countries/XXX.yaml against its boundaries and the providers' keys",
        description="Check a country file: its schema, the provider keys that can be verified offline, the projected "
                    "CRS (with a UTM or equal-area suggestion), and, given boundaries, their layers, field names and "
                    "values, the study regions and the bases' admin-3 names. Exit status 1 if errors are found.")
    check.add_argument("iso3", help="ISO3 code of the country file (config/countries/<ISO3>.yaml)")
    check.add_argument("--boundaries", metavar="PATH",
                       help="boundaries as distributed (.shp, folder of shapefiles, .zip, .gpkg) or a retrieved "
                            "adm3.gpkg; default: the newest resources/automatic/<ISO3>/boundaries/*/adm3.gpkg")
    check.add_argument("--layer", help="the admin-3 layer to read (default: boundaries.cod_ab_layer, else detected)")
    check.add_argument("--countries-dir", default="config/countries", metavar="DIR",
                       help="folder of the country files (default: config/countries)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "country-check":
        from qipstudy.countrycheck import run_country_check

        return run_country_check(args.iso3.upper(), countries_dir=args.countries_dir, boundaries=args.boundaries,
                                 layer=args.layer)
    return 2  # unreachable: argparse requires a sub-command


if __name__ == "__main__":
    sys.exit(main())
