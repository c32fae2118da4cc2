#!/usr/bin/env python3
"""Where a server's cold start goes: exec to the first 200 of POST /function/cat, as a timeline of markers.

  bench/startup-timeline.py [--faults] [--uprobes] RUNS PORT BINARY [ARGS...]

Runs the cold-start probe (artifacts/bench/coldstart, built by bench/run) under `perf record` with tracepoints
only (no sampling): exec, thread creation, openat, socket, listen, accept4, recvfrom, sendto, the child's exec and
exit. With --uprobes (AotFaas only: needs BINARY.dbg beside it, as publish.sh leaves it), also the runtime's and the
server's start-up functions: main, RhInitialize, InitializeModules, RehydrateData (entry and return),
InitializeStatics, Program.Main, FaasServer.StartAsync, KestrelServerImpl.BindAsync; the probes are removed after.
With --faults, also the server's user page faults, counted per phase (tracing every fault slows the start, so
the times of such a run are not the ones to quote). Prints per marker the median and the minimum offset from the
server's exec over the RUNS starts, and the step from the previous marker. Tracing costs time: compare the total
with the probe's own figure (artifacts/bench/coldstart RUNS PORT BINARY ...) measured apart. Needs root and perf.
"""
import os, re, statistics, subprocess, sys, tempfile

args = sys.argv[1:]
faults = "--faults" in args; uprobes = "--uprobes" in args
args = [a for a in args if a not in ("--faults", "--uprobes")]
if len(args) < 3: sys.exit(__doc__)
runs, port, binary, rest = args[0], args[1], os.path.abspath(args[2]), args[3:]
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
probe = os.path.join(repo, "artifacts/bench/coldstart")
name = os.path.basename(binary)

events = ["sched:sched_process_exec", "sched:sched_process_fork", "syscalls:sys_enter_clone3", "syscalls:sys_enter_socket",
          "syscalls:sys_enter_listen", "syscalls:sys_exit_accept4", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
          "syscalls:sys_enter_exit_group", "syscalls:sys_enter_openat"]
functions = {  # uprobe name: (symbol, label)
    "main": ("main", "main() (dynamic loading done)"),
    "rhinit": ("RhInitialize", "RhInitialize (runtime: GC heap, threads)"),
    "initmods": ("S_P_CoreLib_Internal_Runtime_CompilerHelpers_StartupCodeHelpers__InitializeModules", "InitializeModules"),
    "rehydrate": ("S_P_CoreLib_Internal_Runtime_CompilerHelpers_StartupCodeHelpers__RehydrateData", "RehydrateData begins"),
    "rehydrate_ret": ("S_P_CoreLib_Internal_Runtime_CompilerHelpers_StartupCodeHelpers__RehydrateData%return", "RehydrateData ends"),
    "statics": ("S_P_CoreLib_Internal_Runtime_CompilerHelpers_StartupCodeHelpers__InitializeStatics", "InitializeStatics"),
    "progmain": ("aotfaas_Program___Main_", "Program.Main"),
    "faasstart": ("aotfaas_AotFaas_Hosting_FaasServer__StartAsync", "FaasServer.StartAsync"),
    "kbind": ("Microsoft_AspNetCore_Server_Kestrel_Core_Microsoft_AspNetCore_Server_Kestrel_Core_KestrelServerImpl__BindAsync", "KestrelServerImpl.BindAsync"),
}
added = []
try:
    if uprobes:
        for key, (symbol, _) in functions.items():
            r = subprocess.run(["perf", "probe", "-q", "-x", binary, "-a", "%s=%s" % (key, symbol)], capture_output=True, text=True)
            if r.returncode == 0: added.append(key)
            else: print("no uprobe on %s: %s" % (symbol, r.stderr.strip().splitlines()[-1:]), file=sys.stderr)
        if added: events.append("probe_%s:*" % re.sub(r"[^A-Za-z0-9_]", "_", name))
    if faults: events.append("exceptions:page_fault_user")
    data = tempfile.mktemp(suffix=".perf.data")
    wall = subprocess.run(["perf", "record", "-q", "-e", ",".join(events), "-o", data, "--", probe, "-b", "1024", runs, port, binary] + rest,
                          capture_output=True, text=True)
    if wall.returncode != 0: sys.exit("the probe failed: " + wall.stderr)
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,time,event,trace"], capture_output=True, text=True).stdout
    os.unlink(data)
finally:
    for key in added: subprocess.run(["perf", "probe", "-q", "-d", "probe_*:%s*" % key], capture_output=True)

labels = {key: label for key, (_, label) in functions.items()}
labels["rehydrate_ret__return"] = labels.pop("rehydrate_ret")
starts, cur = [], None
for line in out.splitlines():
    m = re.match(r"\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
    if not m: continue
    comm, pid, tid, t, ev, arg = m.groups(); t = float(t) * 1000
    if ev == "sched:sched_process_exec" and arg.split()[0] == "filename=" + binary:
        cur = {"pid": pid, "t0": t, "m": {}, "faults": []}; starts.append(cur); continue
    if cur is None: continue
    marks, rel = cur["m"], t - cur["t0"]
    def mark(label):
        marks.setdefault(label, rel)
    if pid == cur["pid"]:
        if ev.startswith("probe_"): mark(labels.get(ev.split(":")[1], ev))
        elif ev == "exceptions:page_fault_user": cur["faults"].append(rel)
        elif ev == "syscalls:sys_enter_clone3": mark("first thread created")
        elif ev == "syscalls:sys_enter_socket" and "family: 0x00000002" in arg and "type: 0x000" in arg and "listen()" not in marks: mark("socket() (the bind)")
        elif ev == "syscalls:sys_enter_listen": mark("listen()")
        elif ev == "syscalls:sys_exit_accept4" and "listen()" in marks and not arg.endswith("0xfffffffffffffff5"): mark("first connection accepted")
        elif ev == "syscalls:sys_enter_recvfrom" and "first connection accepted" in marks: mark("request read")
        elif ev == "sched:sched_process_fork" and "first connection accepted" in marks: mark("spawn (clone of the child)")
        elif ev == "syscalls:sys_enter_sendto" and "cat exits" in marks: mark("response sent")
    if ev == "sched:sched_process_exec" and "listen()" in marks and "cat: exec" not in marks:
        mark("cat: exec"); cur["child"] = pid
    if ev == "syscalls:sys_enter_exit_group" and pid == cur.get("child"): mark("cat exits")

print("%d starts of %s (perf tracepoints%s%s)" % (len(starts), binary, ", uprobes" if added else "", ", every page fault" if faults else ""))
names = set(k for s in starts for k in s["m"])
rows = sorted((statistics.median([s["m"][n] for s in starts if n in s["m"]]), min(s["m"][n] for s in starts if n in s["m"]), n) for n in names)
print("%9s %9s %7s %s%s" % ("median", "min", "step", "faults  " if faults else "", "marker (ms from the server's exec)"))
prev = 0.0
for med, low, n in rows:
    extra = ""
    if faults:
        prev_name = None
        counts = []
        for s in starts:
            if n not in s["m"]: continue
            before = [v for v in s["m"].values() if v < s["m"][n]]
            lo = max(before) if before else 0.0
            counts.append(sum(1 for f in s["faults"] if lo <= f < s["m"][n]))
        extra = "%6d  " % statistics.median(counts)
    print("%9.2f %9.2f %+7.2f %s%s" % (med, low, med - prev, extra, n)); prev = med
if faults:
    print("page faults of the server to the response (median): %d" % statistics.median(
        [sum(1 for f in s["faults"] if f < s["m"].get("response sent", 1e12)) for s in starts]))
