"""Independent peer for tests/mcap_audio.rs: the Python `mcap` package (from
scripts/install-perception.sh) writes and reads foxglove_msgs/msg/RawAudio
in CDR, encoded and decoded here by hand with `struct`.

  write FILE   chunked (uncompressed) MCAP: 25 blocks of 10 ms 48 kHz stereo
               on /mic (20 pcm-s16, then 5 pcm-f32), blocks 5 and 6 swapped in
               file order, and one message on /status (another schema).
               Sample value of frame i, channel c: peer_sample(i, c).
  read FILE    one line per message in file order:
               topic schema schema_encoding message_encoding log_time, then for
               cdr messages: stamp_ns format sample_rate channels values...
               (i16 values for pcm-s16, f32 bit patterns as u32 for pcm-f32)
"""

import struct
import sys

from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

SCHEMA = b"""builtin_interfaces/Time timestamp
uint8[] data
string format
uint32 sample_rate
uint32 number_of_channels
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""
T0_NS = 1_000_000_000_000
BLOCK_FRAMES = 480
RATE = 48_000


def peer_sample(i, c):
    return (i * 131 + c * 7919) % 65536 - 32768


def align(buf):
    while (len(buf) - 4) % 4:
        buf.append(0)


def u32(buf, v):
    align(buf)
    buf += struct.pack("<I", v)


def encode(stamp_ns, fmt, rate, channels, data):
    buf = bytearray(b"\x00\x01\x00\x00")
    u32(buf, stamp_ns // 1_000_000_000)
    u32(buf, stamp_ns % 1_000_000_000)
    u32(buf, len(data))
    buf += data
    u32(buf, len(fmt) + 1)
    buf += fmt.encode() + b"\x00"
    u32(buf, rate)
    u32(buf, channels)
    return bytes(buf)


def write(path):
    blocks = []
    for b in range(25):
        frames = range(b * BLOCK_FRAMES, (b + 1) * BLOCK_FRAMES)
        values = [peer_sample(i, c) for i in frames for c in (0, 1)]
        if b < 20:
            fmt, data = "pcm-s16", struct.pack("<%dh" % len(values), *values)
        else:
            fmt = "pcm-f32"
            data = struct.pack("<%df" % len(values), *[v / 32768.0 for v in values])
        stamp = T0_NS + b * 10_000_000
        blocks.append((stamp, encode(stamp, fmt, RATE, 2, data)))
    blocks[5], blocks[6] = blocks[6], blocks[5]
    with open(path, "wb") as f:
        w = Writer(f, compression=CompressionType.NONE, chunk_size=4096)
        w.start(library="tendon-speech test peer")
        audio = w.register_schema("foxglove_msgs/msg/RawAudio", "ros2msg", SCHEMA)
        mic = w.register_channel("/mic", "cdr", audio)
        other = w.register_schema("tendon/Status", "jsonschema", b'{"type":"object"}')
        status = w.register_channel("/status", "json", other)
        w.add_message(status, log_time=T0_NS, publish_time=T0_NS, data=b'{"ok":true}')
        for seq, (stamp, msg) in enumerate(blocks):
            w.add_message(mic, log_time=stamp, publish_time=stamp, data=msg, sequence=seq)
        w.finish()


def read(path):
    with open(path, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages(log_time_order=False):
            head = [channel.topic, schema.name, schema.encoding, channel.message_encoding,
                    message.log_time]
            if channel.message_encoding != "cdr":
                print(" ".join(str(v) for v in head))
                continue
            d = message.data
            assert d[:2] == b"\x00\x01", "not little-endian CDR"
            pos = 4

            def get_u32():
                nonlocal pos
                pos += (4 - (pos - 4) % 4) % 4
                (v,) = struct.unpack_from("<I", d, pos)
                pos += 4
                return v

            sec, nanosec = get_u32(), get_u32()
            n = get_u32()
            data = d[pos:pos + n]
            pos += n
            flen = get_u32()
            fmt = d[pos:pos + flen - 1].decode()
            pos += flen
            rate, channels = get_u32(), get_u32()
            assert pos == len(d), "trailing bytes"
            if fmt == "pcm-s16":
                values = struct.unpack("<%dh" % (len(data) // 2), data)
            else:
                values = struct.unpack("<%dI" % (len(data) // 4), data)
            head += [sec * 1_000_000_000 + nanosec, fmt, rate, channels]
            print(" ".join(str(v) for v in head + list(values)))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
