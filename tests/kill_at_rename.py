"""python tests/kill_at_rename.py SCRIPT FLAGS...: runs SCRIPT as `python SCRIPT FLAGS` would, killed (os._exit(9), no
clean-up, as kill -9) at the KILL_AT-th os.replace call, before that rename: the files a kill between two writes of
a save leaves behind, made deterministic."""

import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
rename, renames = os.replace, []


def replace_or_die(source, target):
    renames.append(target)
    if len(renames) == int(os.environ["KILL_AT"]):
        print(f"killed before renaming {os.path.basename(target)}", flush=True)
        os._exit(9)
    rename(source, target)


os.replace = replace_or_die
sys.argv = sys.argv[1:]
runpy.run_path(os.path.join(ROOT, sys.argv[0]), run_name="__main__")
