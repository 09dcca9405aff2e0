#!/usr/bin/env python3
"""Build reference cART files the way CybercentreCanada/cart's cart.py does.

Standard library only (the reference needs pycryptodome just for ARC4, which
is replaced here by a few lines of pure-Python RC4). Run from anywhere:

    python3 internal/cart/testdata/gen_reference.py

It rewrites testdata/reference_*.cart and testdata/cartrs_*.cart and prints
the sha256 of each file's content, which verify_test.go hard-codes.
"""
import hashlib
import json
import os
import struct
import zlib

MANDATORY_HEADER_FMT = "<4shQ16sQ"
MANDATORY_FOOTER_FMT = "<4sQQQ"
DEFAULT_ARC4_KEY = b"\x03\x01\x04\x01\x05\x09\x02\x06" * 2
BLOCK_SIZE = 64 * 1024


class RC4:
    def __init__(self, key):
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) & 0xFF
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0

    def crypt(self, data):
        s, i, j = self.s, self.i, self.j
        out = bytearray(len(data))
        for n, b in enumerate(data):
            i = (i + 1) & 0xFF
            j = (j + s[i]) & 0xFF
            s[i], s[j] = s[j], s[i]
            out[n] = b ^ s[(s[i] + s[j]) & 0xFF]
        self.i, self.j = i, j
        return bytes(out)


class LengthCounter:
    name = "length"

    def __init__(self):
        self.length = 0

    def update(self, chunk):
        self.length += len(chunk)

    def hexdigest(self):
        return str(self.length)


DEFAULT_DIGESTS = (hashlib.md5, hashlib.sha1, hashlib.sha256, LengthCounter)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def pack(content, optional_header=None, auto_digests=DEFAULT_DIGESTS,
         level=zlib.Z_BEST_SPEED, cartrs_footer=False):
    """pack_stream from cart.py; cartrs_footer mimics cart-rs writing no
    optional footer and (0, 0) as its position and length."""
    key = DEFAULT_ARC4_KEY
    out = bytearray()
    opt_header = RC4(key).crypt(dumps(optional_header)) if optional_header else b""
    out += struct.pack(MANDATORY_HEADER_FMT, b"CART", 1, 0, key, len(opt_header))
    out += opt_header

    cipher = RC4(key)  # restart the RC4 stream for the data
    bz = zlib.compressobj(level)
    digesters = [d() for d in auto_digests]
    for off in range(0, len(content), BLOCK_SIZE):
        chunk = content[off:off + BLOCK_SIZE]
        for d in digesters:
            d.update(chunk)
        z = bz.compress(chunk)
        if z:
            out += cipher.crypt(z)
    z = bz.flush()
    if z:
        out += cipher.crypt(z)

    footer = {d.name: d.hexdigest() for d in digesters}
    opt_footer_pos = len(out)
    opt_footer = RC4(key).crypt(dumps(footer)) if footer else b""
    out += opt_footer
    if cartrs_footer:
        assert not opt_footer
        out += struct.pack(MANDATORY_FOOTER_FMT, b"TRAC", 0, 0, 0)
    else:
        out += struct.pack(MANDATORY_FOOTER_FMT, b"TRAC", 0, opt_footer_pos, len(opt_footer))
    return bytes(out)


def multiblock_content():
    """~200 KiB spanning four 64 KiB blocks: text, then pseudo-random bytes
    (incompressible, so zlib emits output on several compress() calls),
    then a long run."""
    text = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(1200))
    rnd = b"".join(hashlib.sha256(b"alharvest %d" % i).digest() for i in range(3200))
    return text + rnd + b"\x00" * 40000


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    files = {
        "reference_empty.cart": (b"", dict(auto_digests=())),
        "reference_a.cart": (b"a", dict(optional_header={"name": "a.txt"})),
        "reference_multiblock.cart": (multiblock_content(),
                                      dict(optional_header={"name": "multi.bin", "poc": "alharvest tests"})),
        "cartrs_nofooter.cart": (b"hello from cart-rs\n" * 500,
                                 dict(optional_header={"name": "hello.txt"}, auto_digests=(),
                                      level=6, cartrs_footer=True)),
    }
    for name, (content, kw) in files.items():
        data = pack(content, **kw)
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)
        print("%-28s %7d bytes  content %7d bytes  sha256 %s"
              % (name, len(data), len(content), hashlib.sha256(content).hexdigest()))


if __name__ == "__main__":
    main()
