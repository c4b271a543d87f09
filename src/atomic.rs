//! Files that appear whole or not at all.
//!
//! Every file we write (predictions, model, metadata) goes to a temporary file in the same folder
//! and is renamed over the target only when complete, so a failed or interrupted run never leaves
//! a half-written file that a later step could mistake for a result. The temporary files being
//! written are listed, so that a signal can remove them before the process exits
//! ([`remove_temp_files_then`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::descriptor;
use crate::error::{Error, Result};
use crate::sync_ahead::SyncAhead;

/// The temporary files now being written. A file is created and renamed only while this lock is
/// held, so a signal's reaction, which takes it for good, sees every file there is.
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temp_files() -> MutexGuard<'static, Vec<PathBuf>> {
    // A list whose holder panicked is still a list of paths: use it all the same.
    TEMP_FILES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes every temporary file still being written, then runs `exit` without letting go of the
/// list, so that no other thread can create a file or rename one into place in between. For the
/// reaction to a signal: `exit` is meant to end the process, and never to return.
pub fn remove_temp_files_then<T>(exit: impl FnOnce() -> T) -> T {
    let temps = temp_files();
    for temp in temps.iter() {
        let _ = fs::remove_file(temp);
    }
    exit()
}

/// A file being written under a temporary name, renamed into place by [`AtomicFile::commit`].
/// Dropping it without committing (or a failed commit) removes the temporary file.
pub struct AtomicFile {
    display: String,
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<SyncAhead>>,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `path` (named as the user gave it, for messages).
    pub fn create(path: &str) -> Result<AtomicFile> {
        let mut target = PathBuf::from(path);
        // A symbolic link stays one: what it points to is replaced, as `>` would write there.
        // Replacing the link itself could even replace `/dev/stdout`.
        if fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            if let Ok(real) = fs::canonicalize(&target) {
                target = real;
            }
        }
        if target.is_dir() {
            return Err(Error::directory(
                path,
                "write",
                "give the path of a file to write, in it or elsewhere",
            ));
        }
        let name = target
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{path}: an output path must name a file")))?;
        let mut temps = temp_files();
        let (temp, file) = create_temp(&target, name).map_err(|e| Error::io(path, "create", e))?;
        temps.push(temp.clone());
        drop(temps);
        let kept = fs::metadata(&target).map_or(Ok(()), |old| keep_owner_and_mode(&file, &old));
        let atomic = AtomicFile {
            display: path.to_string(),
            target,
            temp,
            writer: Some(BufWriter::with_capacity(256 * 1024, SyncAhead::new(file))),
            committed: false,
        };
        // On failure, dropping `atomic` removes the temporary file.
        kept.map_err(|e| Error::io(path, "create", e))?;
        Ok(atomic)
    }

    /// The path as the user named it.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .expect("a writer is only taken by commit");
        let file = writer
            .into_inner()
            .map_err(|e| Error::io(&self.display, "write", e.into_error()))?
            .into_inner();
        file.sync_all()
            .map_err(|e| Error::io(&self.display, "write", e))?;
        let renamed = {
            let mut temps = temp_files();
            let renamed = fs::rename(&self.temp, &self.target);
            if renamed.is_ok() {
                temps.retain(|t| *t != self.temp);
            }
            renamed
        };
        renamed.map_err(|e| Error::io(&self.display, "rename", e))?;
        self.committed = true;
        Ok(())
    }

    /// The path of the temporary file, while writing.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer
            .as_mut()
            .expect("a writer is only taken by commit")
            .write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer
            .as_mut()
            .expect("a writer is only taken by commit")
            .write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer
            .as_mut()
            .expect("a writer is only taken by commit")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Close without flushing what is buffered: the file is going away.
        if let Some(writer) = self.writer.take() {
            drop(writer.into_parts());
        }
        let mut temps = temp_files();
        let _ = fs::remove_file(&self.temp);
        temps.retain(|t| *t != self.temp);
    }
}

/// Writes `bytes` to `path` atomically; a descriptor, device or FIFO (`/dev/stdout`) cannot
/// be replaced, so it is written through ([`crate::descriptor`]).
pub fn write_atomic(path: &str, bytes: &[u8]) -> Result<()> {
    if crate::store::is_url(path) {
        return crate::store::put::write_whole(path, bytes);
    }
    if let Some(mut through) = descriptor::open_write_through(path)? {
        let written = through
            .file
            .write_all(bytes)
            .and_then(|()| through.file.flush());
        return written.map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe if !through.standard_output => Error::ReaderGone {
                path: path.to_string(),
            },
            _ => Error::io(path, "write", e),
        });
    }
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| Error::io(path, "write", e))?;
    file.commit()
}

/// Gives the temporary file that will replace `old` its owner, group and permission bits, as
/// `cp` onto an existing file and editors keep them: a file made private stays private. The
/// owner and group can only be given by root (or kept by their owner), so failing to is no
/// error; the mode always can be.
fn keep_owner_and_mode(temp: &File, old: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let _ = std::os::unix::fs::fchown(temp, Some(old.uid()), Some(old.gid()));
    temp.set_permissions(fs::Permissions::from_mode(old.mode() & 0o777))
}

/// Creates `.NAME.PID.STAMP.tmp` beside `target`, never opening an existing file. In a
/// container the process id is nearly always 1, so two Pods writing to one shared folder (a
/// retried Job index while its old Pod is still stopping) would otherwise share a temp file;
/// the clock stamp tells them apart, and `create_new` makes a clash an error-free retry.
fn create_temp(target: &Path, name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut stamp = now.as_secs() ^ (u64::from(now.subsec_nanos()) << 32);
    loop {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.{stamp:x}.tmp", std::process::id()));
        let temp = target.with_file_name(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => stamp = stamp.wrapping_add(1),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bi-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_committed_file_has_its_bytes_and_no_temp_is_left() {
        let dir = scratch("commit");
        let path = dir.join("out.csv");
        write_atomic(path.to_str().unwrap(), b"prediction\n1.5\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"prediction\n1.5\n");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn two_writers_of_one_path_in_one_process_get_their_own_temp_files() {
        // As two Pods would, both with process id 1: neither may truncate the other's file.
        let dir = scratch("two_writers");
        let path = dir.join("out.csv");
        let mut first = AtomicFile::create(path.to_str().unwrap()).unwrap();
        let mut second = AtomicFile::create(path.to_str().unwrap()).unwrap();
        assert_ne!(first.temp_path(), second.temp_path());
        first.write_all(b"first").unwrap();
        second.write_all(b"second").unwrap();
        second.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        first.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_dropped_file_leaves_nothing_behind() {
        let dir = scratch("drop");
        let path = dir.join("out.csv");
        let mut file = AtomicFile::create(path.to_str().unwrap()).unwrap();
        file.write_all(b"half").unwrap();
        assert!(file.temp_path().exists());
        drop(file);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_commit_leaves_nothing_behind() {
        let dir = scratch("failed_commit");
        let path = dir.join("out.csv");
        let mut file = AtomicFile::create(path.to_str().unwrap()).unwrap();
        file.write_all(b"whole").unwrap();
        // A folder that appears at the target meanwhile makes the rename fail.
        fs::create_dir_all(path.join("inside")).unwrap();
        let err = file.commit().unwrap_err();
        assert!(err.to_string().contains(": cannot rename: "), "{err}");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "only the folder is left"
        );
    }

    #[test]
    fn a_symbolic_link_is_written_through_not_replaced() {
        let dir = scratch("symlink");
        fs::write(dir.join("real.csv"), b"old").unwrap();
        std::os::unix::fs::symlink("real.csv", dir.join("link.csv")).unwrap();
        write_atomic(dir.join("link.csv").to_str().unwrap(), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.join("link.csv"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.join("real.csv")).unwrap(), b"new");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_file_follows_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let path = dir.join("out.csv");
        write_atomic(path.to_str().unwrap(), b"new").unwrap();
        let new_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            new_mode & 0o600,
            0o600,
            "the owner reads and writes a new file"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(path.to_str().unwrap(), b"again").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&path).unwrap(), b"again");
    }

    #[test]
    fn a_temporary_file_is_listed_while_it_is_written() {
        let dir = scratch("listed");
        let file = AtomicFile::create(dir.join("out.csv").to_str().unwrap()).unwrap();
        let temp = file.temp_path().to_path_buf();
        assert!(temp_files().contains(&temp));
        drop(file);
        assert!(!temp_files().contains(&temp));
        let file = AtomicFile::create(dir.join("out.csv").to_str().unwrap()).unwrap();
        file.commit().unwrap();
        assert!(!temp_files().contains(&temp));
    }

    #[test]
    fn a_missing_folder_is_an_io_error_naming_the_path() {
        let err = AtomicFile::create("no/such/folder/out.csv").err().unwrap();
        assert_eq!(err.exit_code(), 5);
        assert!(err
            .to_string()
            .starts_with("no/such/folder/out.csv: cannot create:"));
    }
}
