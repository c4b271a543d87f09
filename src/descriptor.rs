//! Outputs that are written through instead of replaced: open descriptors named as paths
//! (`/dev/stdout`, `/dev/fd/3`, `/proc/self/fd/1`, or a link to one), devices, FIFOs and
//! sockets; and standard output itself, which must be open.
//!
//! A finished file is renamed over its target ([`crate::atomic`]), but renaming over
//! `/dev/stdout` would replace what standard output was redirected to (`>> a.log` loses the
//! log) and, as root, `/dev/stdout` itself. Reopening the descriptor's path is no better: on
//! Linux it opens the file anew, at offset 0, without the `O_APPEND` that `>>` set. So a path
//! that names one of our own descriptors is written through a duplicate of that descriptor,
//! which shares its offset and flags, exactly as `cmd > /dev/stdout` writes in a shell.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// An output opened to be written through.
pub struct WriteThrough {
    /// The open descriptor, device or FIFO.
    pub file: File,
    /// True when it is our own standard output, whose reader may go away (`| head`) without
    /// the run failing.
    pub standard_output: bool,
}

/// Opens `path` to be written through when it names a descriptor, device, FIFO or socket;
/// `None` when it is a regular file or does not exist, to be written whole by renaming.
pub fn open_write_through(path: &str) -> Result<Option<WriteThrough>> {
    match descriptor_of(Path::new(path)) {
        Some(Descriptor::Ours(fd)) => {
            let file = duplicate(fd).map_err(|e| Error::io(path, "write", e))?;
            Ok(Some(WriteThrough {
                file,
                standard_output: fd == 1,
            }))
        }
        // Another process's descriptor can only be opened anew: appending at least never
        // truncates nor overwrites what it holds.
        Some(Descriptor::Theirs) => open(path, true),
        None => match fs::metadata(path) {
            Ok(meta) if is_device(&meta) => open(path, false),
            _ => Ok(None),
        },
    }
}

/// True when `path` names an open descriptor (`/dev/stdout`, `/dev/fd/N`, `/proc/*/fd/N`, or
/// a link to one), which is a stream, never a file to replace.
pub fn is_descriptor(path: &Path) -> bool {
    descriptor_of(path).is_some()
}

/// Fails when standard output was closed when the process started (`>&-`): the runtime then
/// points it at `/dev/null`, and predictions written there would vanish without an error.
pub fn check_standard_output() -> Result<()> {
    if was_closed(1) {
        return Err(Error::io("<stdout>", "write", closed()));
    }
    Ok(())
}

fn open(path: &str, append: bool) -> Result<Option<WriteThrough>> {
    let file = OpenOptions::new()
        .write(true)
        .append(append)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))?;
    Ok(Some(WriteThrough {
        file,
        standard_output: false,
    }))
}

/// True for what exists but cannot be replaced by renaming a finished file over it: character
/// and block devices, FIFOs and sockets.
fn is_device(meta: &fs::Metadata) -> bool {
    let kind = meta.file_type();
    kind.is_char_device() || kind.is_block_device() || kind.is_fifo() || kind.is_socket()
}

/// A descriptor a path names.
#[derive(Debug, PartialEq, Eq)]
enum Descriptor {
    /// One of this process's descriptors.
    Ours(RawFd),
    /// Another process's.
    Theirs,
}

/// The descriptor `path` names, following symbolic links one at a time (the descriptor's own
/// entry is a link to the file it has open, which is exactly the one not to follow).
fn descriptor_of(path: &Path) -> Option<Descriptor> {
    let mut path = std::path::absolute(path).ok()?;
    // As the kernel does, give up after 40 links.
    for _ in 0..40 {
        let name = path.file_name()?.to_owned();
        let folder = fs::canonicalize(path.parent()?).ok()?;
        if let Some(pid) = descriptor_folder_of(&folder) {
            let fd = name.to_str()?.parse::<RawFd>().ok()?;
            return Some(if pid == std::process::id() {
                Descriptor::Ours(fd)
            } else {
                Descriptor::Theirs
            });
        }
        let entry = folder.join(&name);
        if !fs::symlink_metadata(&entry).ok()?.file_type().is_symlink() {
            return None;
        }
        path = folder.join(fs::read_link(&entry).ok()?);
    }
    None
}

/// The process whose descriptors a canonical folder lists: `/proc/PID/fd` or
/// `/proc/PID/task/TID/fd` (`/proc/self` and `/dev/fd` canonicalize to these).
fn descriptor_folder_of(folder: &Path) -> Option<u32> {
    let parts: Vec<_> = folder
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => Some(""),
        })
        .collect();
    match parts.as_slice() {
        [Some(""), Some("proc"), Some(pid), Some("fd")]
        | [Some(""), Some("proc"), Some(pid), Some("task"), Some(_), Some("fd")] => {
            pid.parse().ok()
        }
        _ => None,
    }
}

/// A new descriptor for our descriptor `fd`, sharing its offset and flags (`O_APPEND`).
fn duplicate(fd: RawFd) -> io::Result<File> {
    if (0..=2).contains(&fd) && was_closed(fd) {
        return Err(closed());
    }
    // SAFETY: F_DUPFD_CLOEXEC takes no pointers; it fails with EBADF when `fd` is not open.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just opened by fcntl and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

fn closed() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// Which of descriptors 0, 1 and 2 were closed when the process started, one bit each. The
/// Rust runtime opens `/dev/null` on them before `main`, so only a check that runs earlier,
/// from `.init_array` as the C runtime's constructors do, can tell.
static CLOSED_AT_START: AtomicU8 = AtomicU8::new(0);

fn was_closed(fd: RawFd) -> bool {
    CLOSED_AT_START.load(Ordering::Relaxed) & (1 << fd) != 0
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_AT_START: extern "C" fn() = note_closed_at_start;

#[cfg(target_os = "linux")]
extern "C" fn note_closed_at_start() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD takes no pointers; it fails with EBADF when `fd` is not open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            CLOSED_AT_START.fetch_or(1 << fd, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_output_is_a_descriptor_however_it_is_named() {
        for path in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
            assert_eq!(
                descriptor_of(Path::new(path)),
                Some(Descriptor::Ours(1)),
                "{path}"
            );
        }
        assert_eq!(
            descriptor_of(Path::new("/proc/1/fd/1")).is_some(),
            Path::new("/proc/1/fd").exists()
        );
    }

    #[test]
    fn a_link_to_a_descriptor_is_one_and_a_plain_file_is_not() {
        let dir = std::env::temp_dir().join(format!("bi-descriptor-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/dev/stdout", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("out", dir.join("again")).unwrap();
        assert_eq!(descriptor_of(&dir.join("again")), Some(Descriptor::Ours(1)));
        fs::write(dir.join("plain"), "x").unwrap();
        assert_eq!(descriptor_of(&dir.join("plain")), None);
        assert_eq!(descriptor_of(&dir.join("missing")), None);
        assert_eq!(descriptor_of(Path::new("/dev/null")), None);
    }
}
