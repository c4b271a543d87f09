#!/usr/bin/env python3
"""The floor under the Parquet benchmark: what the biggest parts of scoring a Parquet file cost
alone, each on one core, so the whole run's time can be set against them.

    python3 benches/parquet_floor.py --data F.parquet [--rounds 5]

F is the file benches/parquet.py writes (keep it with `--dir`). Measured, medians of the rounds:
- reading the file from the page cache: `cat F > /dev/null`;
- decompressing the pages of the 13 feature columns: each page's zstd frame is cut out of the
  file (the page header, Thrift compact protocol, says where its data starts and how long it
  is), the frames are written one after another to a scratch file, and `zstd -d -c` (one
  thread) decompresses them to /dev/null; the same frames' bytes read by `cat` are shown too,
  to subtract. The CLI decompresses as a stream, through its own buffers; so the frames are
  also decompressed in memory, each in one call into a buffer of its page's size, as the
  `parquet` crate does (pyarrow's `Codec("zstd")`, its own libzstd; CPU seconds of this
  process alone, from `time.process_time`).
Formatting and predicting are measured by `cargo bench --bench kernels -- encode predict`.
Wall and CPU seconds (user + system) come from `/usr/bin/time`. Needs pyarrow (for the
footer) and the zstd command.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT".split(",")


class Compact:
    """Just enough of Thrift's compact protocol to walk a page header."""

    def __init__(self, data: bytes, at: int):
        self.data, self.at = data, at

    def byte(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value

    def zigzag(self) -> int:
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def skip(self, kind: int) -> None:
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.at += 1
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.at += 8
        elif kind == 8:
            length = self.varint()
            self.at += length
        elif kind in (9, 10):
            head = self.byte()
            size, elem = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.at += 1 if elem in (1, 2) else 0
                if elem not in (1, 2):
                    self.skip(elem)
        elif kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4)
                    self.skip(types & 0x0F)
        elif kind == 12:
            self.struct()
        else:
            sys.exit(f"unknown Thrift type {kind}")

    def struct(self) -> dict[int, int]:
        """Walks a struct; returns its integer fields by id."""
        fields, last = {}, 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            if kind in (4, 5, 6):
                fields[last] = self.zigzag()
            else:
                self.skip(kind)


def frames(path: Path) -> list[tuple[bytes, int]]:
    """The zstd frame of each page of the feature columns, and the page's decompressed size."""
    data = path.read_bytes()
    meta = pq.ParquetFile(path).metadata
    out = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema not in FEATURES:
                continue
            if column.compression != "ZSTD":
                sys.exit(f"column {column.path_in_schema} is {column.compression}, not ZSTD")
            start = column.data_page_offset
            if column.has_dictionary_page and column.dictionary_page_offset is not None:
                start = min(start, column.dictionary_page_offset)
            end = start + column.total_compressed_size
            at = start
            while at < end:
                header = Compact(data, at)
                fields = header.struct()
                kind, size, compressed = fields[1], fields[2], fields[3]
                if kind == 3:
                    sys.exit("a data page v2: its levels are not compressed; not handled here")
                out.append((data[header.at : header.at + compressed], size))
                at = header.at + compressed
    return out


def in_memory(pages: list[tuple[bytes, int]]) -> float:
    """CPU seconds to decompress every frame in one call each, into a buffer of its size."""
    codec = pa.Codec("zstd")
    started = time.process_time()
    for frame, size in pages:
        if codec.decompress(frame, decompressed_size=size).size != size:
            sys.exit("a frame did not decompress to its page's size")
    return time.process_time() - started


def timed(cmd: str) -> tuple[float, float]:
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S", "sh", "-c", cmd], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"{cmd} failed:\n{out.stderr}")
    wall, user, system = map(float, out.stderr.split()[-3:])
    return wall, user + system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parquet-floor-") as scratch:
        zst = Path(scratch) / "pages.zst"
        pages = frames(args.data)
        blob, raw = b"".join(f for f, _ in pages), sum(n for _, n in pages)
        zst.write_bytes(blob)
        # The frames decompress to exactly the pages' stated sizes, or the cut was wrong.
        check = subprocess.run(f"zstd -d -c -q {zst} | wc -c", shell=True, capture_output=True, text=True)
        if int(check.stdout) != raw:
            sys.exit(f"the frames decompress to {check.stdout.strip()} bytes, not {raw}")
        runs = {
            f"cat the file ({args.data.stat().st_size / 1e6:.0f} MB) > /dev/null": f"cat {args.data} > /dev/null",
            f"cat the 13 columns' zstd frames ({len(blob) / 1e6:.0f} MB) > /dev/null": f"cat {zst} > /dev/null",
            f"zstd -d the frames ({len(blob) / 1e6:.0f} MB to {raw / 1e6:.0f} MB) > /dev/null": f"zstd -d -c -q {zst} > /dev/null",
        }
        subprocess.run(f"cat {args.data} {zst} > /dev/null", shell=True, check=True)
        results = {name: [] for name in runs}
        memory = f"zstd, in memory, frame by frame ({len(blob) / 1e6:.0f} MB to {raw / 1e6:.0f} MB)"
        results[memory] = []
        for _ in range(args.rounds):
            for name, cmd in runs.items():
                results[name].append(timed(cmd))
            cpu = in_memory(pages)
            results[memory].append((float("nan"), cpu))
    print(f"median of {args.rounds} rounds")
    print("| part, alone | seconds | CPU seconds |")
    print("| --- | ---: | ---: |")
    for name, rs in results.items():
        wall = statistics.median(w for w, _ in rs)
        cpu = statistics.median(c for _, c in rs)
        shown = "" if wall != wall else f"{wall:.2f}"
        print(f"| {name} | {shown} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
