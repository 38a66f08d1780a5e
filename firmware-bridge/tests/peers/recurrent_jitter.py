#!/usr/bin/env python3
"""The loop users run today: unitree_sdk2py's RecurrentThread at 2 ms
publishing a LowCmd_ (with Unitree's CRC) on rt/lowcmd, as Unitree's G1
low-level Python example does. Measures, for each call, the wake time minus
its deadline (deadline k = first call + k * interval), skipping ahead and
counting overruns when a call is more than a period late, like tendon's loop.

Prints one JSON line: calls, overruns, p50/p99/p999/max wake lateness in us.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=60.0)
    p.add_argument("--interval-ms", type=float, default=2.0)
    a = p.parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from unitree_sdk2py.core.channel import ChannelPublisher
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_
    from unitree_sdk2py.utils.thread import RecurrentThread

    pc.init_sdk_channels(a.domain, a.iface)
    pub = ChannelPublisher("rt/lowcmd", LowCmd_)
    pub.Init()
    cmd = pc.new_lowcmd() if hasattr(pc, "new_lowcmd") else LowCmd_()
    interval_ns = int(a.interval_ms * 1e6)
    st = {"t0": None, "k": 0, "lateness_ns": [], "overruns": 0}

    def step():
        t = time.monotonic_ns()
        if st["t0"] is None:
            st["t0"] = t
        else:
            st["k"] += 1
            deadline = st["t0"] + st["k"] * interval_ns
            st["lateness_ns"].append(t - deadline)
            if t > deadline + interval_ns:
                skipped = (t - deadline) // interval_ns
                st["overruns"] += skipped
                st["k"] += skipped
        for i in range(29):
            cmd.motor_cmd[i].mode = 1
            cmd.motor_cmd[i].q = 0.0
            cmd.motor_cmd[i].kp = 0.0
            cmd.motor_cmd[i].kd = 8.0
        cmd.crc = pc.crc_of(cmd)
        pub.Write(cmd)

    thread = RecurrentThread(interval=a.interval_ms / 1000.0, target=step, name="lowcmd")
    thread.Start()
    time.sleep(a.duration)
    thread.Wait()
    lat = sorted(st["lateness_ns"])

    def q(f):
        return round(lat[min(len(lat) - 1, int(f * len(lat)))] / 1e3, 1) if lat else None

    pc.finish({"ok": bool(lat), "impl": "unitree_sdk2py RecurrentThread", "calls": len(lat) + 1,
               "overruns": st["overruns"], "p50_us": q(0.5), "p99_us": q(0.99), "p999_us": q(0.999),
               "max_us": round(lat[-1] / 1e3, 1) if lat else None})


if __name__ == "__main__":
    main()
