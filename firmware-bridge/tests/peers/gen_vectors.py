#!/usr/bin/env python3
"""Generate random G1 messages with Unitree's own IDL classes, serializer and CRC.

One JSON object per line on stdout:
  {"kind": K, "index": i,
   "fields": {...every field by IDL name, nested, arrays as lists...},
   "cdr_hex": "<IdlStruct.serialize() incl. the 4-byte encapsulation header>",
   "crc": <CRC().Crc(msg)>}            # lowcmd / lowstate only
and nothing else on stdout: exactly --count lines (a summary goes to stderr).

Floats are random *binary32* values (finite: normal, subnormal, +-0, extremes,
and plain uniform ones), emitted as the exact double value of that f32, so
`s.parse::<f64>() as f32` (or parse::<f32>) gives the same bits. The crc field
of lowcmd/lowstate is set to the computed CRC before serializing.

Extra (not needed by the vectors): --check-doc-crc prints the g1-protocol.md
section 2 CRC test vectors computed with Unitree's CRC.
"""

import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402

KINDS = ("lowcmd", "lowstate", "sportmodestate", "imu", "request", "response")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=10, help="number of messages (0..100000)")
    p.add_argument("--kind", choices=KINDS, default="lowcmd")
    p.add_argument("--check-doc-crc", action="store_true",
                   help="instead of vectors, compute the 4 CRC test vectors of g1-protocol.md section 2")
    a = p.parse_args()
    if not 0 <= a.count <= 100000:
        p.error("--count must be 0..100000")
    return a


class Gen:
    SPECIAL_F32 = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0 ** -149, -(2.0 ** -149), 2.0 ** -126,
                   (2 - 2.0 ** -23) * 2.0 ** 127, -(2 - 2.0 ** -23) * 2.0 ** 127, 3.14159265]

    def __init__(self, seed):
        self.r = random.Random(seed)

    def f32(self):
        x = self.r.random()
        if x < 0.1:
            return pc.f32(self.r.choice(self.SPECIAL_F32))
        if x < 0.4:  # any finite bit pattern (normals of every exponent, subnormals)
            while True:
                bits = self.r.getrandbits(32)
                if (bits >> 23) & 0xFF != 0xFF:
                    return struct.unpack("<f", struct.pack("<I", bits))[0]
        return pc.f32(self.r.uniform(-1000.0, 1000.0))

    def u8(self):
        return self.r.getrandbits(8)

    def u32(self):
        return self.r.getrandbits(32)

    def i16(self):
        return self.r.getrandbits(16) - 32768

    def i32(self):
        return self.r.getrandbits(32) - 2 ** 31

    def i64(self):
        return self.r.getrandbits(64) - 2 ** 63

    def boolean(self):
        return bool(self.r.getrandbits(1))

    def f32s(self, n):
        return [self.f32() for _ in range(n)]

    def string(self):
        x = self.r.random()
        if x < 0.15:
            return ""
        if x < 0.5:  # realistic RPC JSON
            return self.r.choice([
                '{"data": %d}' % self.r.choice([0, 1, 2, 3, 4, 200, 500, 501, 702, 706, 801]),
                '{"velocity": [%r, %r, %r], "duration": %r}' % (self.r.uniform(-1, 1), self.r.uniform(-1, 1),
                                                                self.r.uniform(-1, 1), self.r.uniform(0, 5)),
                "{}",
                '{"name":""}',
            ])
        alphabet = [chr(c) for c in range(0x20, 0x7F)] + ["\u00e9", "\u00b5", "\u4e2d", "\U0001F916", "\n", "\t"]
        return "".join(self.r.choice(alphabet) for _ in range(self.r.randrange(1, 48)))

    def octets(self):
        n = self.r.choice([0, 0, 1, 3, 4, 7, 16, self.r.randrange(0, 300)])
        return [self.u8() for _ in range(n)]


def sportmodestate_type():
    """hg SportModeState_ per g1-protocol.md section 4. unitree_sdk2py 1.0.3 has
    no hg SportModeState_ (only unitree_go's, a different struct), so it is
    declared here the way the SDK's generated classes are."""
    from dataclasses import dataclass

    import cyclonedds.idl as idl
    import cyclonedds.idl.annotations as annotate
    import cyclonedds.idl.types as types

    @dataclass
    @annotate.final
    @annotate.autoid("sequential")
    class SportModeState_(idl.IdlStruct, typename="unitree_hg.msg.dds_.SportModeState_"):
        fsm_id: types.uint32
        fsm_mode: types.uint32
        task_id: types.uint32
        task_time: types.float32

    return SportModeState_


def make(kind, g):
    from unitree_sdk2py.idl.unitree_api.msg.dds_ import (Request_, RequestHeader_, RequestIdentity_, RequestLease_,
                                                         RequestPolicy_, Response_, ResponseHeader_,
                                                         ResponseStatus_)
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import (IMUState_, LowCmd_, LowState_, MotorCmd_, MotorState_)

    def imu():
        return IMUState_(quaternion=g.f32s(4), gyroscope=g.f32s(3), accelerometer=g.f32s(3), rpy=g.f32s(3),
                         temperature=g.i16())

    if kind == "lowcmd":
        m = LowCmd_(mode_pr=g.u8(), mode_machine=g.u8(),
                    motor_cmd=[MotorCmd_(mode=g.u8(), q=g.f32(), dq=g.f32(), tau=g.f32(), kp=g.f32(), kd=g.f32(),
                                         reserve=g.u32()) for _ in range(35)],
                    reserve=[g.u32() for _ in range(4)], crc=0)
        m.crc = pc.crc_of(m)
        return m
    if kind == "lowstate":
        m = LowState_(version=[g.u32(), g.u32()], mode_pr=g.u8(), mode_machine=g.u8(), tick=g.u32(),
                      imu_state=imu(),
                      motor_state=[MotorState_(mode=g.u8(), q=g.f32(), dq=g.f32(), ddq=g.f32(), tau_est=g.f32(),
                                               temperature=[g.i16(), g.i16()], vol=g.f32(),
                                               sensor=[g.u32(), g.u32()], motorstate=g.u32(),
                                               reserve=[g.u32() for _ in range(4)]) for _ in range(35)],
                      wireless_remote=[g.u8() for _ in range(40)], reserve=[g.u32() for _ in range(4)], crc=0)
        m.crc = pc.crc_of(m)
        return m
    if kind == "imu":
        return imu()
    if kind == "sportmodestate":
        return sportmodestate_type()(fsm_id=g.u32(), fsm_mode=g.u32(), task_id=g.u32(), task_time=g.f32())
    if kind == "request":
        return Request_(header=RequestHeader_(identity=RequestIdentity_(id=g.i64(), api_id=g.i64()),
                                              lease=RequestLease_(id=g.i64()),
                                              policy=RequestPolicy_(priority=g.i32(), noreply=g.boolean())),
                        parameter=g.string(), binary=g.octets())
    if kind == "response":
        return Response_(header=ResponseHeader_(identity=RequestIdentity_(id=g.i64(), api_id=g.i64()),
                                                status=ResponseStatus_(code=g.i32())),
                         data=g.string(), binary=g.octets())
    raise ValueError(kind)


def check_doc_crc():
    """g1-protocol.md section 2 test vectors, built as the doc describes."""
    out = {}
    cmd = pc.new_lowcmd()
    out["lowcmd_default"] = pc.crc_of(cmd)
    out["lowstate_default"] = pc.crc_of(pc.new_lowstate())
    cmd = pc.new_lowcmd()
    cmd.mode_machine = 5
    for i in range(29):
        m = cmd.motor_cmd[i]
        m.mode, m.q, m.kp, m.kd = 1, 0.01 * i, 60.0 + i, 1.5
    out["lowcmd_mm5_29motors"] = pc.crc_of(cmd)
    cmd = pc.new_lowcmd()
    for i, q in ((3, 0.5), (15, 0.2)):
        m = cmd.motor_cmd[i]
        m.mode, m.q, m.kp, m.kd = 0, q, 25.0, 0.5
    out["lowcmd_two_motors"] = pc.crc_of(cmd)
    expected = {"lowcmd_default": 0xFE172F9F, "lowstate_default": 0xD64BB04A,
                "lowcmd_mm5_29motors": 0x8E3FFDB6, "lowcmd_two_motors": 0xF036ADB0}
    return {k: {"crc": f"0x{v:08X}", "doc": f"0x{expected[k]:08X}", "match": v == expected[k]} for k, v in out.items()}


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.start_watchdog(120.0 + a.count * 0.05, lambda: {"kind": a.kind, "count": a.count})
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    if a.check_doc_crc:
        res = check_doc_crc()
        for k, v in res.items():
            pc.log(k, v)
        pc.finish({"ok": all(v["match"] for v in res.values()), "doc_crc_vectors": res})

    import json

    g = Gen(a.seed)
    out = os.fdopen(os.dup(pc._json_fd), "w")
    lengths = set()
    for i in range(a.count):
        m = make(a.kind, g)
        cdr = m.serialize()
        lengths.add(len(cdr))
        rec = {"kind": a.kind, "index": i, "fields": pc.to_jsonable(m), "cdr_hex": cdr.hex()}
        if a.kind in ("lowcmd", "lowstate"):
            rec["crc"] = m.crc
        out.write(json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()
    pc.log(json.dumps({"ok": True, "kind": a.kind, "seed": a.seed, "count": a.count,
                       "cdr_lengths": sorted(lengths)}))
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
