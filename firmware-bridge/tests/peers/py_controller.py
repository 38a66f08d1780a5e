#!/usr/bin/env python3
"""A minimal low-level controller built on Unitree's Python SDK (unitree_sdk2py).

Does what Unitree's own low-level examples do: subscribe rt/lowstate (hg
LowState_), wait for the first LowState, then publish hg LowCmd_ on rt/lowcmd
at --rate-hz with mode_machine copied from the latest LowState and the Unitree
CRC. Targets: motor_cmd[i] = {mode 1, q 0.02*i, dq 0, tau 0, kp 40, kd 1} for
i in 0..29 (slots 29..34 zero), mode_pr 0; reserve[0] = a counter of sent
LowCmds (starting at 1).

Counts received LowStates and checks their CRC with Unitree's CRC class.
Prints one JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402

N_BODY = 29
Q_TARGET = [pc.f32(0.02 * i) for i in range(N_BODY)]
KP, KD = 40.0, 1.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=5.0)
    p.add_argument("--rate-hz", type=float, default=500.0, help="LowCmd publish rate (1..2000)")
    a = p.parse_args()
    if not 1 <= a.rate_hz <= 2000:
        p.error("--rate-hz must be 1..2000")
    if not 0 < a.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    return a


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    lock = threading.Lock()
    rx = {"n": 0, "crc_ok": 0, "last": None, "first_at": None}
    tx = {"sent": 0, "overruns": 0, "first_at": None}

    def summary():
        with lock:
            last = rx["last"]
            return {
                "ok": True, "domain": a.domain, "iface": a.iface, "duration_s": a.duration,
                "lowstate_received": rx["n"], "lowstate_crc_valid": rx["crc_ok"],
                "first_lowstate_at_s": rx["first_at"],
                "last_mode_machine": None if last is None else last.mode_machine,
                "last_tick": None if last is None else last.tick,
                "last_q": None if last is None else [m.q for m in last.motor_state[:N_BODY]],
                "last_imu_quaternion": None if last is None else list(last.imu_state.quaternion),
                "lowcmd_sent": tx["sent"], "lowcmd_overruns": tx["overruns"],
                "first_lowcmd_at_s": tx["first_at"],
                "commanded": {"mode": 1, "q": Q_TARGET, "kp": KP, "kd": KD, "slots": N_BODY,
                              "reserve0": "counter of LowCmds sent, from 1"},
            }

    pc.start_watchdog(a.duration + 5.0, summary)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    end = pc.T_PROCESS + a.duration
    got_first = threading.Event()

    def on_lowstate(msg):
        ok = pc.crc_of(msg) == msg.crc
        with lock:
            rx["n"] += 1
            rx["crc_ok"] += ok
            rx["last"] = msg
            if rx["first_at"] is None:
                rx["first_at"] = round(pc.now() - pc.T_PROCESS, 4)
        got_first.set()

    pc.init_sdk_channels(a.domain, a.iface)
    pub = ChannelPublisher("rt/lowcmd", LowCmd_)
    pub.Init()
    sub = ChannelSubscriber("rt/lowstate", LowState_)
    sub.Init(on_lowstate, 0)

    pc.log("waiting for the first LowState")
    while not got_first.is_set() and pc.now() < end:
        got_first.wait(min(0.1, max(0.0, end - pc.now())))
    if got_first.is_set():
        pc.log(f"first LowState after {pc.now() - pc.T_PROCESS:.3f}s; sending LowCmd at {a.rate_hz} Hz")
        tx["first_at"] = round(pc.now() - pc.T_PROCESS, 4)
    period = 1.0 / a.rate_hz
    nxt = pc.now()
    while got_first.is_set() and pc.now() < end:
        cmd = pc.new_lowcmd()  # fresh, zeroed message each time
        with lock:
            cmd.mode_machine = rx["last"].mode_machine
        cmd.mode_pr = 0
        for i in range(N_BODY):
            m = cmd.motor_cmd[i]
            m.mode, m.q, m.dq, m.tau, m.kp, m.kd = 1, Q_TARGET[i], 0.0, 0.0, KP, KD
        cmd.reserve[0] = (tx["sent"] + 1) & 0xFFFFFFFF
        cmd.crc = pc.crc_of(cmd)
        pub.Write(cmd)
        tx["sent"] += 1
        nxt += period
        t = pc.now()
        if t > nxt + period:
            tx["overruns"] += 1
            nxt = t
        pc.sleep_until(min(nxt, end))
    s = summary()
    if s["lowstate_received"] == 0:
        s["ok"] = False
        s["error"] = "no LowState received"
    pc.log(f"LowState rx {s['lowstate_received']} (crc ok {s['lowstate_crc_valid']}), LowCmd tx {s['lowcmd_sent']}")
    pc.finish(s)


if __name__ == "__main__":
    main()
