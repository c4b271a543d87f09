//! A file whose bytes start for the disk as they are written, so that the sync that makes an
//! output durable ([`crate::atomic::AtomicFile::commit`]) finds little left to wait for.
//!
//! Without it the kernel holds every written page in memory until the final `fsync`, which then
//! waits for all of them at once: about 0.06 s for the 186 MB of predictions of 1e7 rows on the
//! project's machines, a tenth of the whole run. Every [`KICK_EVERY`] bytes, the range just
//! written is handed to the disk with `sync_file_range(SYNC_FILE_RANGE_WRITE)`, which starts the
//! writeback and returns (RocksDB's `bytes_per_sync`, the same idea): the disk works while the
//! readers parse. It is a hint only. Its errors are ignored, since the final `fsync` is what
//! decides and reports whether the bytes reached the disk; elsewhere than Linux it does nothing.

use std::fs::File;
use std::io::{self, Write};

/// Bytes written between two hints: large enough that the calls cost nothing, small enough that
/// the writeback keeps up.
pub const KICK_EVERY: u64 = 8 << 20;

/// A [`File`] written from its start, with writeback started every [`KICK_EVERY`] bytes.
#[derive(Debug)]
pub struct SyncAhead {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// Where the range not yet handed to the disk starts.
    kicked: u64,
}

impl SyncAhead {
    /// `file`, empty and open for writing, from its start.
    pub fn new(file: File) -> SyncAhead {
        SyncAhead {
            file,
            written: 0,
            kicked: 0,
        }
    }

    /// The file, to sync and close.
    pub fn into_inner(self) -> File {
        self.file
    }

    /// The bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Starts the writeback of what was written since the last time, once that is
    /// [`KICK_EVERY`] bytes or more.
    fn kick(&mut self) {
        let pending = self.written - self.kicked;
        if pending < KICK_EVERY {
            return;
        }
        start_writeback(&self.file, self.kicked, pending);
        self.kicked = self.written;
    }
}

impl Write for SyncAhead {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        self.kick();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain system call on a descriptor this `File` owns; no memory is passed.
    // Its result is a hint's: the final fsync reports any error.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_file_holds_every_byte_written_in_order_across_many_hints() {
        let path = crate::testing::scratch_file("sync-ahead", "out", b"");
        let mut file = SyncAhead::new(File::create(&path).unwrap());
        // Writes of odd sizes that cross the hint boundary many times.
        let mut want = Vec::new();
        let mut rng = crate::testing::Rng(7);
        while want.len() < 3 * KICK_EVERY as usize + 12_345 {
            let len = 1 + rng.below(1 << 20) as usize;
            let chunk: Vec<u8> = (0..len).map(|i| (i * 31 + want.len()) as u8).collect();
            file.write_all(&chunk).unwrap();
            want.extend_from_slice(&chunk);
        }
        assert_eq!(file.written(), want.len() as u64);
        assert!(
            file.kicked > 2 * KICK_EVERY,
            "hints were given: {}",
            file.kicked
        );
        let inner = file.into_inner();
        inner.sync_all().unwrap();
        drop(inner);
        let mut got = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut got).unwrap();
        assert!(got == want, "the bytes read back differ from those written");
        std::fs::remove_file(&path).unwrap();
    }
}
