"""numpy reference for tendon-perception's preprocessing, and the benchmark anchor.

Written independently of the Rust code, the way one would in numpy: bilinear
resize with half-pixel centres (OpenCV INTER_LINEAR, no antialias) through
fancy indexing, then (x/255 - mean)/std, then the ViT patchify
    x.reshape(H/P, P, W/P, P, C).transpose(0, 2, 1, 3, 4).reshape(N, P*P*C)

Modes (all raw buffers are little-endian, row-major):
  resize   --input U8.bin --width W --height H --size S --patch P --fit letterbox|crop
           --pad R,G,B --mean a,b,c --std a,b,c --layout patches|hwc --output F32.bin
  patchify --input F32.bin --height H --width W --channels C --patch P --output F32.bin
  mcap-summary FILE.mcap       (JSON: channels, schemas and decoded Image/CompressedImage headers)
  bench    (same options as resize, no --output/--layout): reads commands on stdin
           'full N' / 'patchify N', answers the mean ns per call over N calls
"""

import argparse
import hashlib
import json
import math
import struct
import sys
import time

import numpy as np


def triple(text, kind):
    vals = [kind(v) for v in text.split(",")]
    assert len(vals) == 3, text
    return np.array(vals, dtype=np.float64)


def geometry(n_src_w, n_src_h, size, fit):
    """Resized size and placement offset per axis (offset < 0: cropped)."""
    if fit == "letterbox":
        scale = min(size / n_src_w, size / n_src_h)
        rw = min(max(math.floor(n_src_w * scale + 0.5), 1), size)
        rh = min(max(math.floor(n_src_h * scale + 0.5), 1), size)
        return rw, rh, (size - rw) // 2, (size - rh) // 2
    scale = max(size / n_src_w, size / n_src_h)
    rw = max(math.floor(n_src_w * scale + 0.5), size)
    rh = max(math.floor(n_src_h * scale + 0.5), size)
    return rw, rh, -((rw - size) // 2), -((rh - size) // 2)


def axis(n_src, size, resized, offset):
    o = np.arange(size)
    valid = (o >= offset) & (o < offset + resized)
    s = np.clip((o - offset + 0.5) * (n_src / resized) - 0.5, 0.0, n_src - 1)
    i0 = np.floor(s).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_src - 1)
    return valid, i0, i1, s - i0


class Resizer:
    """Index tables computed once per source size, as a careful numpy user would."""

    def __init__(self, w, h, size, fit, pad, mean, std, dtype):
        rw, rh, ox, oy = geometry(w, h, size, fit)
        self.vx, self.x0, self.x1, fx = axis(w, size, rw, ox)
        self.vy, self.y0, self.y1, fy = axis(h, size, rh, oy)
        self.fx = fx.astype(dtype)[None, :, None]
        self.fy = fy.astype(dtype)[:, None, None]
        self.mean = mean.astype(dtype)
        self.std = std.astype(dtype)
        self.pad = ((pad / 255.0 - mean) / std).astype(dtype)
        self.dtype = dtype
        self.needs_pad = not (self.vx.all() and self.vy.all())

    def __call__(self, img_u8):
        img = img_u8.astype(self.dtype)
        r0 = img[self.y0]
        r1 = img[self.y1]
        a, b = r0[:, self.x0], r0[:, self.x1]
        c, d = r1[:, self.x0], r1[:, self.x1]
        top = a + (b - a) * self.fx
        bottom = c + (d - c) * self.fx
        v = top + (bottom - top) * self.fy
        out = (v / self.dtype(255.0) - self.mean) / self.std
        if self.needs_pad:
            out[~self.vy] = self.pad
            out[:, ~self.vx] = self.pad
        return out


def patchify(x, p):
    h, w, c = x.shape
    return x.reshape(h // p, p, w // p, p, c).transpose(0, 2, 1, 3, 4).reshape(-1, p * p * c)


def resize_args(ap):
    ap.add_argument("--input", required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--fit", choices=["letterbox", "crop"], default="letterbox")
    ap.add_argument("--pad", default="0,0,0")
    ap.add_argument("--mean", default="0.5,0.5,0.5")
    ap.add_argument("--std", default="0.5,0.5,0.5")


def load_image(a):
    raw = np.fromfile(a.input, dtype=np.uint8)
    return raw.reshape(a.height, a.width, 3)


def make_resizer(a, dtype):
    return Resizer(
        a.width, a.height, a.size, a.fit,
        triple(a.pad, float), triple(a.mean, float), triple(a.std, float), dtype,
    )


def cmd_resize(a):
    out = make_resizer(a, np.float64)(load_image(a))
    if a.layout == "patches":
        out = patchify(out, a.patch)
    np.ascontiguousarray(out, dtype="<f4").tofile(a.output)


def cmd_patchify(a):
    x = np.fromfile(a.input, dtype="<f4").reshape(a.height, a.width, a.channels)
    np.ascontiguousarray(patchify(x, a.patch)).tofile(a.output)


def cmd_mcap_summary(a):
    from mcap.reader import make_reader

    out = {"messages": []}
    with open(a.file, "rb") as f:
        reader = make_reader(f)
        for schema, channel, message in reader.iter_messages():
            d = message.data
            assert d[:2] == b"\x00\x01", "not little-endian CDR"
            pos = 4

            def u32():
                nonlocal pos
                pos += (4 - (pos - 4) % 4) % 4
                (v,) = struct.unpack_from("<I", d, pos)
                pos += 4
                return v

            def string():
                nonlocal pos
                n = u32()
                s = d[pos:pos + n - 1].decode()
                pos += n
                return s

            sec, nanosec = u32(), u32()
            frame_id = string()
            entry = {
                "topic": channel.topic,
                "schema": schema.name,
                "schema_encoding": schema.encoding,
                "message_encoding": channel.message_encoding,
                "log_time": message.log_time,
                "stamp_ns": sec * 1_000_000_000 + nanosec,
                "frame_id": frame_id,
            }
            if schema.name == "sensor_msgs/msg/CompressedImage":
                entry["format"] = string()
                n = u32()
                entry["data_len"] = n
                entry["jpeg_soi"] = d[pos:pos + 2] == b"\xff\xd8"
            else:
                height, width = u32(), u32()
                encoding = string()
                pos += 1
                step = u32()
                n = u32()
                entry.update({
                    "width": width,
                    "height": height,
                    "encoding": encoding,
                    "step": step,
                    "data_sha256": hashlib.sha256(d[pos:pos + n]).hexdigest(),
                })
            out["messages"].append(entry)
    print(json.dumps(out))


def cmd_bench(a):
    img = load_image(a)
    resize = make_resizer(a, np.float32)
    mean = triple(a.mean, float).astype(np.float32)
    std = triple(a.std, float).astype(np.float32)
    small = np.ascontiguousarray(img[: a.size, : a.size]) if img.shape[0] >= a.size and img.shape[1] >= a.size else None

    def full():
        return np.ascontiguousarray(patchify(resize(img), a.patch))

    def patch_only():
        # The usual numpy normalise + reshape/transpose on an image that is
        # already 224 x 224 (no resize).
        x = (small.astype(np.float32) / np.float32(255.0) - mean) / std
        return np.ascontiguousarray(patchify(x, a.patch))

    ops = {"full": full, "patchify": patch_only}
    assert full().shape == ((a.size // a.patch) ** 2, a.patch * a.patch * 3)
    print("ready", flush=True)
    for line in sys.stdin:
        name, n = line.split()
        op, n = ops[name], int(n)
        t0 = time.perf_counter_ns()
        for _ in range(n):
            op()
        print((time.perf_counter_ns() - t0) / n, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("resize")
    resize_args(r)
    r.add_argument("--layout", choices=["patches", "hwc"], default="patches")
    r.add_argument("--output", required=True)
    p = sub.add_parser("patchify")
    p.add_argument("--input", required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--output", required=True)
    m = sub.add_parser("mcap-summary")
    m.add_argument("file")
    b = sub.add_parser("bench")
    resize_args(b)
    a = ap.parse_args()
    {"resize": cmd_resize, "patchify": cmd_patchify, "mcap-summary": cmd_mcap_summary, "bench": cmd_bench}[a.mode](a)


if __name__ == "__main__":
    main()
