# bench/inbound --memory (sourced by bench/inbound/run once both systems are up and warmed up).
#
# Same load on each side, one after the other: $sessions SMTP sessions, all in DATA at once,
# each sending one message of $size bytes (memory.py), until every message is in the Maildir.
#   splitmail: VmHWM of splitmail-relay and of splitmail-home (the kernel's peak RSS of each
#              process over its whole life, start-up and warm-up included), plus their RSS
#              sampled like the peers' to show what sampling misses;
#   Postfix:   peak over 50 ms samples of the summed RSS of the master and all its children;
#   Dovecot:   the same for its lmtp processes (and, for information, for all its processes).
# Target (issue 12): relay peak below Postfix's and below 64 MiB + 64 KiB per connection.
# shellcheck shell=bash disable=SC2154 # work, sessions, size, ports, pids: set by run

pf_master=$(tr -d ' \n' < "$work/postfix/queue/pid/master.pid")
dc_master=$(tr -d ' \n' < "$work/dovecot/run/master.pid")
free_mib=$(df -Pm "$work" | awk 'NR==2 {print $4}')
need_mib=$(( sessions * (size >> 20) * 3 + 1024 ))
if [ "$free_mib" -lt "$need_mib" ]; then
  echo "bench/inbound --memory: $free_mib MiB free in $work, need about $need_mib" >&2; exit 1
fi
echo "== memory load: $sessions sessions in DATA at once, one message of $size bytes each;" \
     "data in $work ($free_mib MiB free)"
mem_s=$work/memory-splitmail.json mem_p=$work/memory-postfix.json

sync; sleep 1
$PY "$here/memory.py" --port "$s_smtp" --maildir "$s_maildir" --sessions "$sessions" \
  --size "$size" --hwm "relay=$relay_pid" --hwm "home=$home_pid" > "$mem_s"
# the spool empties as home takes the messages; free the Maildir before Postfix's run
rm -f "$s_maildir"/new/* "$s_maildir"/cur/*
sync; sleep 1
$PY "$here/memory.py" --port "$p_smtp" --maildir "$p_maildir" --sessions "$sessions" \
  --size "$size" --tree "postfix=$pf_master" --tree "dovecot lmtp=$dc_master:lmtp" \
  --tree "dovecot (all)=$dc_master" > "$mem_p"
rm -f "$p_maildir"/new/* "$p_maildir"/cur/*

$PY - "$mem_s" "$mem_p" "$sessions" <<'PYEOF'
import json, sys
s, p = (json.load(open(f)) for f in sys.argv[1:3])
n = int(sys.argv[3])
MiB = 1 << 20
bad = False
for name, d in (("splitmail", s), ("postfix", p)):
    ok = d["error_count"] == 0 and d["e2e_s"] is not None and d["delivered"] >= n
    bad |= not ok
    print(f"{name:9} {d['accepted']}/{n} accepted in {d['accept_s']:.1f}s "
          f"(250s from {d['first_250_s'] or 0:.1f}s to {d['last_250_s'] or 0:.1f}s), "
          f"{d['delivered']} in the Maildir after "
          + (f"{d['e2e_s']:.1f}s" if d["e2e_s"] else "timeout")
          + f"; {d['samples']} samples, mean interval {d['mean_interval_s'] * 1000:.0f} ms, "
          f"longest gap {d['max_gap_s'] * 1000:.0f} ms"
          + ("" if ok else f"  FAILED: {d['errors']}"))
relay, home = s["vmhwm_bytes"]["relay"], s["vmhwm_bytes"]["home"]
pf, dl = p["peak_bytes"]["postfix"], p["peak_bytes"]["dovecot lmtp"]
dall = p["peak_bytes"]["dovecot (all)"]
target = 64 * MiB + 64 * 1024 * n
print()
print(f"== peak memory, {n} sessions x {s['message_bytes'] / MiB:.1f} MiB")
print(f"{'':44} {'MiB':>9}")
print(f"{'splitmail-relay VmHWM':44} {relay / MiB:9.1f}"
      f"   (sampled RSS peak {s['peak_bytes']['relay (sampled)'] / MiB:.1f})")
print(f"{'Postfix, all processes, peak of summed RSS':44} {pf / MiB:9.1f}"
      f"   ({p['procs_at_peak']['postfix']} processes at the peak)")
print(f"{'ratio relay/Postfix':44} {relay / pf:9.3f}")
pss_r, pss_p = s["peak_pss_bytes"]["relay (sampled)"], p["peak_pss_bytes"]["postfix"]
print(f"{'  PSS instead (shared pages split): relay':44} {pss_r / MiB:9.1f}")
print(f"{'  PSS instead: Postfix, all processes':44} {pss_p / MiB:9.1f}"
      f"   (ratio {pss_r / pss_p:.3f}; PSS every {p['pss_every']} samples)")
print(f"{'target 64 MiB + 64 KiB x ' + str(n):44} {target / MiB:9.1f}")
ok = relay < pf and relay < target
print(f"relay below Postfix: {'yes' if relay < pf else 'NO'}; "
      f"below the target: {'yes' if relay < target else 'NO'}  => {'PASS' if ok else 'FAIL'}")
print()
print(f"{'splitmail-home VmHWM':44} {home / MiB:9.1f}"
      f"   (sampled RSS peak {s['peak_bytes']['home (sampled)'] / MiB:.1f})")
print(f"{'Dovecot lmtp processes, peak of summed RSS':44} {dl / MiB:9.1f}"
      f"   ({p['procs_at_peak']['dovecot lmtp']} processes at the peak)")
print(f"{'Dovecot, all processes, peak of summed RSS':44} {dall / MiB:9.1f}")
print(f"{'ratio home/Dovecot lmtp':44} {home / dl:9.3f}")
pss_h, pss_d = s["peak_pss_bytes"]["home (sampled)"], p["peak_pss_bytes"]["dovecot lmtp"]
print(f"{'  PSS instead: home':44} {pss_h / MiB:9.1f}")
print(f"{'  PSS instead: Dovecot lmtp processes':44} {pss_d / MiB:9.1f}   (ratio {pss_h / pss_d:.3f})")
sys.exit(1 if bad else 0)
PYEOF
