#!/usr/bin/env python3
"""Fetch Jane Austen's six novels from Debian's r-cran-janeaustenr and extract them.

The texts live in R's lazy-load database (data/Rdata.rdb/.rdx): zlib-compressed R
serialisation. This is a small reader for just the parts of that format the package uses.
Writes data/austen/<book>.txt.gz (one line of the novel per line) and checks the package's
SHA-256 so the corpus is reproducible.
"""
import gzip, hashlib, io, os, struct, subprocess, sys, tempfile, zlib

PACKAGE = "r-cran-janeaustenr"
SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
BOOKS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]


class RReader:
    """Reads R's XDR serialisation (format 'X', versions 2 and 3)."""

    def __init__(self, data):
        self.buf, self.pos, self.refs = data, 0, []

    def int(self):
        (v,) = struct.unpack_from(">i", self.buf, self.pos)
        self.pos += 4
        return v

    def bytes(self, n):
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def read(self):
        assert self.bytes(2) == b"X\n", "not XDR serialisation"
        version = self.int()
        self.int(), self.int()  # writer and minimal reader versions
        if version == 3:
            self.bytes(self.int())  # native encoding name
        return self.item()

    def attributes(self, flags):
        return self.item() if flags & (1 << 9) else None

    def item(self):
        flags = self.int()
        kind = flags & 0xFF
        if kind in (254, 242, 253, 241, 251):  # NULL, empty/global/base env, missing arg
            return None
        if kind == 255:  # reference to an earlier symbol or environment
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == 1:  # symbol
            name = self.item()
            self.refs.append(name)
            return name
        if kind in (2, 6):  # pairlist / language: list of (tag, value)
            attr = self.attributes(flags)
            tag = self.item() if flags & (1 << 10) else None
            head = (tag, self.item())
            rest = self.item()
            return [head] + (rest or [])
        if kind == 9:  # CHARSXP
            n = self.int()
            return None if n == -1 else self.bytes(n).decode("utf-8", "replace")
        if kind == 4:  # environment
            self.int()
            env = {}
            self.refs.append(env)
            self.item(), self.item(), self.item(), self.item()  # enclosure, frame, hash table, attributes
            return env
        if kind in (16, 19, 20):  # character vector, list, expression
            value = [self.item() for _ in range(self.int())]
        elif kind in (10, 13):  # logical, integer
            n = self.int()
            value = list(struct.unpack_from(">%di" % n, self.buf, self.pos))
            self.pos += 4 * n
        elif kind == 14:  # double
            n = self.int()
            value = list(struct.unpack_from(">%dd" % n, self.buf, self.pos))
            self.pos += 8 * n
        else:
            raise ValueError("unsupported R type %d" % kind)
        attr = self.attributes(flags)
        if attr:
            names = dict(attr).get("names")
            if names is not None:
                return dict(zip(names, value))
        return value


def unserialize_compressed(blob):
    # Four bytes of uncompressed length, then a zlib stream.
    return RReader(zlib.decompress(blob[4:])).read()


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "data", "austen")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True)
        deb = next(f for f in os.listdir(tmp) if f.endswith(".deb"))
        digest = hashlib.sha256(open(os.path.join(tmp, deb), "rb").read()).hexdigest()
        if digest != SHA256:
            sys.exit("checksum mismatch for %s: %s (expected %s)" % (deb, digest, SHA256))
        subprocess.run(["dpkg-deb", "-x", deb, "x"], cwd=tmp, check=True)
        base = os.path.join(tmp, "x/usr/lib/R/site-library/janeaustenr/data/Rdata")
        index = RReader(gzip.decompress(open(base + ".rdx", "rb").read())).read()  # the index is gzipped whole
        rdb = open(base + ".rdb", "rb").read()
        for book in BOOKS:
            offset, length = index["variables"][book]
            lines = unserialize_compressed(rdb[offset:offset + length])
            text = "\n".join(l or "" for l in lines) + "\n"
            with gzip.GzipFile(os.path.join(out_dir, book + ".txt.gz"), "wb", mtime=0) as f:
                f.write(text.encode("utf-8"))
            print("%-18s %7d lines %9d chars" % (book, len(lines), len(text)))
    print("package %s sha256 %s" % (deb, digest))


if __name__ == "__main__":
    main()
