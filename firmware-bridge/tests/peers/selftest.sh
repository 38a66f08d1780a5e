#!/usr/bin/env bash
# Runs the peers against each other on loopback (domains 50..57) and checks
# their JSON summaries. Needs scripts/install-peers.sh to have run.
#   firmware-bridge/tests/peers/selftest.sh          # ~40 s on 2 cores
# Prints one line per check and "N passed, N failed" at the end; exit 1 on failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PY="${TENDON_PEERS_PYTHON:-$("$ROOT/scripts/install-peers.sh" --print-python)}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
pass=0
fail=0

check() { # name, json file, python expression over d
  local name=$1 file=$2 expr=$3
  if "$PY" - "$file" "$expr" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ok = eval(sys.argv[2], {"d": d})
if not ok:
    print("   summary:", json.dumps(d)[:1500], file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
  then echo "ok   $name"; pass=$((pass + 1)); else echo "FAIL $name"; fail=$((fail + 1)); fi
}

# 0. --help works without the venv, and a missing SDK is a clear error (exit 3)
for s in gen_vectors robot_peer py_controller rpc_server rpc_client cpp_controller cyclone_rtt dds_probe; do
  python3 "$HERE/$s.py" --help >/dev/null
done
echo "ok   --help (all scripts)"; pass=$((pass + 1))
set +e
env -u VIRTUAL_ENV PYTHONNOUSERSITE=1 python3 -I "$HERE/robot_peer.py" --domain 50 --duration 1 >"$OUT/nosdk.json" 2>/dev/null
rc=$?
set -e
if [[ $rc == 3 ]] || python3 -c 'import unitree_sdk2py' 2>/dev/null; then
  echo "ok   missing-SDK error (rc=$rc)"; pass=$((pass + 1))
else
  echo "FAIL missing-SDK error (rc=$rc)"; fail=$((fail + 1))
fi

# 1. CRC test vectors of g1-protocol.md and vector generation
"$PY" "$HERE/gen_vectors.py" --check-doc-crc >"$OUT/crc.json" 2>/dev/null
check "doc CRC vectors" "$OUT/crc.json" 'd["ok"]'
for k in lowcmd lowstate sportmodestate imu request response; do
  "$PY" "$HERE/gen_vectors.py" --kind $k --count 5 --seed 3 >"$OUT/v_$k.jsonl" 2>/dev/null
  n=$(wc -l <"$OUT/v_$k.jsonl")
  [[ $n == 5 ]] && { echo "ok   gen_vectors $k"; pass=$((pass + 1)); } || { echo "FAIL gen_vectors $k ($n lines)"; fail=$((fail + 1)); }
done

# 2. robot_peer vs py_controller (domain 51)
"$PY" "$HERE/robot_peer.py" --domain 51 --duration 5 --mode-machine 5 >"$OUT/rp1.json" 2>"$OUT/rp1.err" &
p1=$!
sleep 0.3
"$PY" "$HERE/py_controller.py" --domain 51 --duration 4 >"$OUT/pc.json" 2>"$OUT/pc.err"
wait $p1
check "robot_peer <- py_controller lowcmd" "$OUT/rp1.json" \
  'd["lowcmd_received"] > 500 and d["lowcmd_crc_valid"] == d["lowcmd_received"] == d["lowcmd_mode_machine_ok"]'
check "py_controller <- robot_peer lowstate" "$OUT/pc.json" \
  'd["lowstate_received"] > 500 and d["lowstate_crc_valid"] == d["lowstate_received"] and d["last_mode_machine"] == 5'

# 3. robot_peer vs cpp_controller (domain 52, C++ SDK via ExternalDomainId)
"$PY" "$HERE/robot_peer.py" --domain 52 --duration 5 --mode-machine 6 >"$OUT/rp2.json" 2>"$OUT/rp2.err" &
p1=$!
sleep 0.3
"$PY" "$HERE/cpp_controller.py" --domain 52 --duration 4 >"$OUT/cc.json" 2>"$OUT/cc.err"
wait $p1
check "robot_peer <- cpp_controller lowcmd" "$OUT/rp2.json" \
  'd["lowcmd_received"] > 500 and d["lowcmd_crc_valid"] == d["lowcmd_received"] == d["lowcmd_mode_machine_ok"] and abs(d["last_lowcmd"]["q"][10] - 0.2) < 1e-6 and d["last_lowcmd"]["kp"][0] == 40.0'
check "cpp_controller <- robot_peer lowstate" "$OUT/cc.json" \
  'd["ok"] and d["last_mode_machine"] == 6 and abs(d["last_q"][10] - 0.1) < 1e-6 and d["lowstate_changes"] > 100 and d["lowstate_crc_errors_reported"] == 0'

# 4. rpc_server vs rpc_client (domain 53)
"$PY" "$HERE/rpc_server.py" --domain 53 --duration 5 >"$OUT/rs.json" 2>"$OUT/rs.err" &
p1=$!
sleep 0.3
"$PY" "$HERE/rpc_client.py" --domain 53 --fsm-id 500 --timeout-s 2 --call 9999 '{}' >"$OUT/rc.json" 2>"$OUT/rc.err"
"$PY" "$HERE/rpc_client.py" --domain 53 --fsm-id 12345 --timeout-s 2 >"$OUT/rc2.json" 2>"$OUT/rc2.err"
wait $p1
check "rpc_client SetFsmId(500)/GetFsmId" "$OUT/rc.json" \
  'd["set_fsm_id_code"] == 0 and d["get_fsm_id_code"] == 0 and d["fsm_id_read_back"] == 500 and d["calls"][2]["code"] == 3203'
check "rpc_client SetFsmId(12345) -> 7302" "$OUT/rc2.json" 'd["set_fsm_id_code"] == 7302 and d["fsm_id_read_back"] == 500'
check "rpc_server saw the requests" "$OUT/rs.json" \
  '[r["api_id"] for r in d["requests"]] == [7101, 7001, 9999, 7101, 7001] and d["requests"][0]["parameter"] == "{\"data\": 500}"'

# 5. cyclone_rtt ping vs pong (domain 54)
"$PY" "$HERE/cyclone_rtt.py" pong --domain 54 --duration 8 >"$OUT/pong.json" 2>"$OUT/pong.err" &
p1=$!
sleep 0.3
"$PY" "$HERE/cyclone_rtt.py" ping --domain 54 --count 500 >"$OUT/ping.json" 2>"$OUT/ping.err"
wait $p1
check "cyclone_rtt ping" "$OUT/ping.json" 'd["ok"] and d["lost"] <= 5 and d["received"] >= 495 and d["rtt_us"]["p50"] > 0'
check "cyclone_rtt pong" "$OUT/pong.json" 'd["lowcmd_received"] >= 495 and d["lowcmd_crc_invalid"] == 0'
"$PY" - "$OUT/ping.json" <<'EOF' >&2
import json, sys; d = json.load(open(sys.argv[1])); print("   rtt_us:", d["rtt_us"], "lost:", d["lost"])
EOF

# 6. bounded run with nobody to talk to (domain 55): exits by itself, on time
t0=$(date +%s.%N)
"$PY" "$HERE/robot_peer.py" --domain 55 --duration 2 >"$OUT/alone.json" 2>/dev/null
"$PY" "$HERE/cyclone_rtt.py" ping --domain 55 --count 10 --discovery-timeout-s 1 >"$OUT/alone_ping.json" 2>/dev/null
"$PY" "$HERE/rpc_client.py" --domain 55 --timeout-s 0.3 --retries 0 >"$OUT/alone_rpc.json" 2>/dev/null
t1=$(date +%s.%N)
check "robot_peer alone" "$OUT/alone.json" 'd["lowcmd_received"] == 0 and d["first_lowcmd_at_s"] is None and d["lowstate_sent"] > 500'
check "ping alone -> no-pong" "$OUT/alone_ping.json" 'not d["ok"] and d["received"] == 0'
check "rpc_client alone -> 3102" "$OUT/alone_rpc.json" 'd["set_fsm_id_code"] in (3102, 3104)'
echo "   (three lonely peers took $(python3 -c "print(round($t1 - $t0, 1))") s)" >&2

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
