# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime: the applier's command line, which the boot unit runs
before the kubelet and the container runtime start.

Modes: --check reports what differs and changes nothing (exit 2 when something
would change); --apply changes what differs and reads it back.  The result is
printed as JSON on stdout; notices and errors also go to stderr (the journal at
boot).  Exit status: 0 in sync or applied, 1 failure, 2 --check found changes.
"""

from __future__ import annotations

import argparse
import json
import sys

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    DEFAULT_CONFIG,
    DEFAULT_STATE_DIR,
    EXIT_FAILED,
    PROG,
    SECTIONS,
    ConfigError,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.runner import load_config, run


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Apply the runtime part of a bot4.hft node plan (hugepages, DPDK NIC binding, "
                    "IRQ and housekeeping masks, sysctls, THP, CPU power), or check it.",
        epilog="exit status: 0 in sync or applied, 1 failure, 2 --check found differences",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report what differs; change nothing")
    mode.add_argument("--apply", action="store_true", help="change what differs and read it back")
    parser.add_argument("--config", action="append", metavar="PATH",
                        help="a JSON file or a directory of *.json files (repeatable; default %s)"
                             % DEFAULT_CONFIG)
    parser.add_argument("--config-json", metavar="JSON", help="the configuration itself, as a JSON string")
    parser.add_argument("--section", action="append", choices=SECTIONS,
                        help="only this section (repeatable; default every configured one)")
    parser.add_argument("--root", default="/", help="root of the /proc and /sys trees (tests)")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help="runtime state below the root (default %s)" % DEFAULT_STATE_DIR)
    parser.add_argument("--pretty", action="store_true", help="indent the JSON output")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.config and args.config_json is not None:
        build_parser().error("--config and --config-json exclude each other")
    try:
        config = load_config(args.config or [DEFAULT_CONFIG], args.config_json)
    except ConfigError as exc:
        result = {"mode": "check" if args.check else "apply", "changed": False, "failed": True,
                  "sections": {}, "msg": str(exc)}
        sys.stdout.write(json.dumps(result, indent=2 if args.pretty else None, sort_keys=True) + "\n")
        sys.stderr.write("%s: %s\n" % (PROG, exc))
        return EXIT_FAILED
    code, result = run(config, args.section, root=args.root, check=args.check, state_dir=args.state_dir)
    for name, data in result["sections"].items():
        for text in data["notices"]:
            sys.stderr.write("%s: %s: %s\n" % (PROG, name, text))
        for text in data["errors"]:
            sys.stderr.write("%s: %s: ERROR: %s\n" % (PROG, name, text))
        if data["changes"]:
            sys.stderr.write("%s: %s: %d %s\n" % (PROG, name, len(data["changes"]),
                                                  "would change" if args.check else "changed"))
    sys.stdout.write(json.dumps(result, indent=2 if args.pretty else None, sort_keys=True) + "\n")
    return code
