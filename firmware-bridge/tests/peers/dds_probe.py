#!/usr/bin/env python3
"""List the DDS endpoints on a domain, as CycloneDDS 0.10.2 discovers them.

Joins --domain on --iface with Unitree's Python SDK config
(ChannelFactoryInitialize), listens for --duration seconds on the built-in
DCPSPublication / DCPSSubscription topics, and prints one JSON summary line:
every remote writer and reader with topic, type name, participant and its
reliability / durability / history QoS. Use it to see what a peer (ours or
Unitree's) really offers, e.g. "exactly one writer on rt/lowcmd".
Endpoints of this probe itself are left out.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=2.0)
    p.add_argument("--topic-prefix", default="", help="only endpoints whose topic starts with this (e.g. rt/)")
    a = p.parse_args()
    if not 0 < a.duration <= 600:
        p.error("--duration must be in (0, 600]")
    return a


def qos_dict(qos):
    out = {}
    for pol in qos:
        s = str(pol)
        if s.startswith("Policy.Reliability."):
            out["reliability"] = s.replace("Policy.Reliability.", "")
        elif s.startswith("Policy.Durability."):
            out["durability"] = s.replace("Policy.Durability.", "")
        elif s.startswith("Policy.History."):
            out["history"] = s.replace("Policy.History.", "")
    return out


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    found = {}

    def summary():
        eps = sorted(found.values(), key=lambda e: (e["topic"], e["kind"], e["participant"]))
        return {"ok": True, "domain": a.domain, "iface": a.iface, "endpoints": eps,
                "participants": sorted({e["participant"] for e in eps})}

    pc.start_watchdog(a.duration + 5.0, summary)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication, BuiltinTopicDcpsSubscription
    from unitree_sdk2py.core.channel import ChannelFactory

    pc.init_sdk_channels(a.domain, a.iface)
    dp = ChannelFactory()._ChannelFactory__participant  # the SDK's participant
    own = str(dp.guid)
    readers = [("writer", BuiltinDataReader(dp, BuiltinTopicDcpsPublication)),
               ("reader", BuiltinDataReader(dp, BuiltinTopicDcpsSubscription))]
    end = pc.T_PROCESS + a.duration
    while pc.now() < end:
        for kind, r in readers:
            for ep in r.take(N=64):
                try:
                    part = str(ep.participant_key)
                    if part == own or not ep.topic_name.startswith(a.topic_prefix):
                        continue
                    found[(kind, str(ep.key))] = {"kind": kind, "topic": ep.topic_name, "type": ep.type_name,
                                                  "participant": part, "qos": qos_dict(ep.qos)}
                except AttributeError:  # invalid sample (dispose notification)
                    continue
        pc.sleep_until(min(end, pc.now() + 0.05))
    s = summary()
    for e in s["endpoints"]:
        pc.log(f"{e['kind']:6} {e['topic']:28} {e['type']:40} {e['qos']}")
    pc.finish(s)


if __name__ == "__main__":
    main()
