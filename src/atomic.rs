//! Files that appear whole or not at all.
//!
//! Every file we write (predictions, model, metadata) goes to a temporary file in the same folder
//! and is renamed over the target only when complete, so a failed or interrupted run never leaves
//! a half-written file that a later step could mistake for a result.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name, renamed into place by [`AtomicFile::commit`].
/// Dropping it without committing removes the temporary file.
pub struct AtomicFile {
    display: String,
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path` (named as the user gave it, for messages).
    pub fn create(path: &str) -> Result<AtomicFile> {
        let target = PathBuf::from(path);
        if target.is_dir() {
            return Err(Error::io(
                path,
                "write",
                io::Error::from(io::ErrorKind::IsADirectory),
            ));
        }
        let name = target
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{path}: an output path must name a file")))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let file = File::create(&temp).map_err(|e| Error::io(path, "create", e))?;
        Ok(AtomicFile {
            display: path.to_string(),
            target,
            temp,
            writer: Some(BufWriter::with_capacity(256 * 1024, file)),
        })
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
            .map_err(|e| Error::io(&self.display, "write", e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io(&self.display, "write", e))?;
        fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.display, "rename", e))?;
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
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &str, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| Error::io(path, "write", e))?;
    file.commit()
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
    fn a_missing_folder_is_an_io_error_naming_the_path() {
        let err = AtomicFile::create("no/such/folder/out.csv").err().unwrap();
        assert_eq!(err.exit_code(), 5);
        assert!(err
            .to_string()
            .starts_with("no/such/folder/out.csv: cannot create:"));
    }
}
