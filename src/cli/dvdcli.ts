#!/usr/bin/env node
// `dvdcli`: the drop-in for rexray/dvdcli (issue 8). Not built yet: exits 1 with a clear line.
process.stderr.write('dvdcli: not implemented yet (see issue 8)\n');
process.exitCode = 1;
