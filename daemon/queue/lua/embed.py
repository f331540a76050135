#!/usr/bin/env python3
# Turn the queue's Lua scripts into one C header: for each script a string
# constant named queue_lua_<name>.  Usage: embed.py OUT.h SCRIPT.lua...
import os
import sys

out = sys.argv[1]
with open(out, 'w') as f:
    f.write('/* generated from the Lua scripts in daemon/queue/lua at build time: do not edit */\n')
    for path in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(path))[0].replace('-', '_')
        with open(path) as src:
            text = src.read()
        f.write('static const char queue_lua_%s[] =\n' % name)
        for line in text.splitlines():
            esc = line.replace('\\', '\\\\').replace('"', '\\"')
            f.write('    "%s\\n"\n' % esc)
        f.write('    ;\n')
