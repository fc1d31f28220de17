#!/usr/bin/env python3
"""Computes, with the real oslo.config, which `[database]` values Glance's `glance-manage`
reads for each configuration tree in fixtures/config-discovery/cases.json, and writes them to
fixtures/config-discovery/expected.json. tests/config_discovery.rs asserts that our resolver
picks the same values for the same trees.

Usage: tests/oslo_config/crosscheck.py VENV_PYTHON   (a venv with glance 33.0.0 installed)
       e.g. tests/oslo_config/crosscheck.py /work/venv-glance/bin/python

It mirrors glance/cmd/manage.py main(): cfg.find_config_files / find_config_dirs for the
programs glance-api and glance-manage, project glance, then CONF(args, project='glance',
default_config_files=..., default_config_dirs=...). The only change to oslo.config is that
`/etc` is moved under the case's fake root, as GLANCE_MANAGE_CONFIG_ROOT does for us.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "fixtures", "config-discovery")

CHILD = r'''
import json, os, sys
import oslo_config.cfg as cfg
from oslo_db import options as db_options

case, t = json.loads(sys.argv[1]), sys.argv[2]
root = os.path.join(t, "root")
orig = cfg._get_config_dirs
def moved(project=None):
    out = []
    for d in orig(project):
        if d == "/etc" or d.startswith("/etc/"):
            d = root + d
        out.append(d)
    return out
cfg._get_config_dirs = moved

conf = cfg.ConfigOpts()
db_options.set_defaults(conf)
files, dirs = [], []
for prog in ["glance-api", "glance-manage"]:
    files.extend(cfg.find_config_files(project="glance", prog=prog))
    dirs.extend(cfg.find_config_dirs(project="glance", prog=prog))
args = [a.replace("{t}", t) for a in case.get("args", [])]
result = {}
try:
    conf(args=args, project="glance", default_config_files=files,
         default_config_dirs=dirs)
    result["connection"] = conf.database.connection
    result["mysql_wsrep_sync_wait"] = conf.database.mysql_wsrep_sync_wait
except Exception as e:  # a parse or file error: record its kind
    result["error"] = type(e).__name__
print(json.dumps(result))
'''


def run(python, case):
    with tempfile.TemporaryDirectory() as t:
        for rel, text in case.get("files", {}).items():
            path = os.path.join(t, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        for d in ("home", "root", "snap", "snap_common"):
            os.makedirs(os.path.join(t, d), exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.pop("SNAP", None)
        env.pop("SNAP_COMMON", None)
        env["HOME"] = os.path.join(t, "home")
        if case.get("snap"):
            env["SNAP"] = os.path.join(t, "snap")
            env["SNAP_COMMON"] = os.path.join(t, "snap_common")
        env.update(case.get("env", {}))
        out = subprocess.run([python, "-c", CHILD, json.dumps(case), t], env=env,
                             cwd=t, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    python = sys.argv[1] if len(sys.argv) > 1 else "python3"
    with open(os.path.join(FIXTURES, "cases.json")) as f:
        cases = json.load(f)
    expected = {c["name"]: run(python, c) for c in cases}
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")
    for name, r in expected.items():
        print(f"{name}: {r}")


if __name__ == "__main__":
    main()
