//! Writing an object whole or not at all.
//!
//! What is written is cut into parts of [`PART_SIZE`] bytes. An output smaller than one part
//! is sent in one PUT when it is finished; a larger one goes up as a multipart upload, whose
//! object does not exist until the upload is completed, which [`ObjectWriter::commit`] does
//! only when the run succeeded. Any other end aborts the upload: an error (dropping the
//! writer), or a signal ([`abort_uploads_then`], which the signal thread runs before the
//! process exits), so no half object and no forgotten parts (billed until deleted) are left.
//! At most [`PARTS_IN_FLIGHT`] parts are uploading at once, so memory stays bounded.
//!
//! A shard's output is created only if it does not exist yet (`If-None-Match: *` on the single
//! PUT; before completing a multipart upload, whose completion the client cannot make
//! conditional, by looking first), so a second writer of the same shard never overwrites a
//! finished part.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use object_store::{MultipartUpload, PutMode, PutOptions, PutPayload};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::store::{io_error, runtime, Object};

/// The size of each part of a multipart upload (S3's smallest is 5 MiB; 10 000 parts of 8 MiB
/// make 78 GiB, the largest output).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once, besides the one being filled.
pub const PARTS_IN_FLIGHT: usize = 2;
/// How long aborting an upload may take when a signal stops the run.
const ABORT_TIMEOUT: Duration = Duration::from_secs(10);

type Upload = Arc<Mutex<Option<Box<dyn MultipartUpload>>>>;

/// The multipart uploads in progress. An upload is started, completed and aborted only while
/// this list is held, so a signal's reaction, which takes it for good, aborts every one.
static UPLOADS: Mutex<Vec<Upload>> = Mutex::new(Vec::new());

fn uploads() -> MutexGuard<'static, Vec<Upload>> {
    UPLOADS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock(upload: &Upload) -> MutexGuard<'_, Option<Box<dyn MultipartUpload>>> {
    upload.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Aborts every multipart upload in progress, then runs `exit` without letting go of the
/// list, so no other thread can complete one in between. For the reaction to a signal.
pub fn abort_uploads_then<T>(exit: impl FnOnce() -> T) -> T {
    let list = uploads();
    for upload in list.iter() {
        if let Some(mut upload) = lock(upload).take() {
            let _ = runtime::block_on(async {
                tokio::time::timeout(ABORT_TIMEOUT, upload.abort()).await
            });
        }
    }
    exit()
}

/// An object being written; it appears only when [`ObjectWriter::commit`] succeeds.
pub struct ObjectWriter {
    object: Object,
    /// Only create the object, never replace one (a shard's output).
    create_only: bool,
    /// The part being filled.
    part: Vec<u8>,
    /// The multipart upload, once the output outgrew one part.
    upload: Option<Upload>,
    /// Parts being uploaded, oldest first.
    in_flight: VecDeque<JoinHandle<object_store::Result<()>>>,
}

impl ObjectWriter {
    /// Starts writing `object`; with `create_only`, committing fails if it exists by then.
    pub fn create(object: Object, create_only: bool) -> ObjectWriter {
        ObjectWriter {
            object,
            create_only,
            part: Vec::new(),
            upload: None,
            in_flight: VecDeque::new(),
        }
    }

    /// The URL as the user named it.
    pub fn display(&self) -> &str {
        &self.object.url
    }

    /// Sends the full part as the next part of the multipart upload (starting it first).
    fn send_part(&mut self) -> io::Result<()> {
        let upload = match &self.upload {
            Some(upload) => Arc::clone(upload),
            None => {
                let mut list = uploads();
                let started = runtime::block_on(self.object.store.put_multipart(&self.object.key))
                    .map_err(io::Error::other)?
                    .map_err(io_error)?;
                let upload = Arc::new(Mutex::new(Some(started)));
                list.push(Arc::clone(&upload));
                self.upload = Some(Arc::clone(&upload));
                upload
            }
        };
        let payload = PutPayload::from(std::mem::take(&mut self.part));
        let sending = match lock(&upload).as_mut() {
            Some(upload) => upload.put_part(payload),
            None => return Err(io::Error::other("the upload was aborted")),
        };
        let handle = runtime::runtime().map_err(io::Error::other)?.spawn(sending);
        self.in_flight.push_back(handle);
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest part in flight to be uploaded.
    fn wait_oldest(&mut self) -> io::Result<()> {
        if let Some(handle) = self.in_flight.pop_front() {
            runtime::block_on(handle)
                .map_err(io::Error::other)?
                .map_err(io::Error::other)?
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Uploads what is left and makes the object appear, whole.
    pub fn commit(mut self) -> Result<()> {
        let url = self.object.url.clone();
        let Some(upload) = self.upload.clone() else {
            let mode = match self.create_only {
                true => PutMode::Create,
                false => PutMode::Overwrite,
            };
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            let payload = PutPayload::from(std::mem::take(&mut self.part));
            let store = &self.object.store;
            let put = runtime::block_on(store.put_opts(&self.object.key, payload, options))?;
            return put.map(|_| ()).map_err(|e| finish_error(&url, e));
        };
        if !self.part.is_empty() {
            self.send_part().map_err(|e| Error::io(&url, "write", e))?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest()
                .map_err(|e| Error::io(&url, "write", e))?;
        }
        if self.create_only && self.object.size()?.is_some() {
            let exists = object_store::Error::AlreadyExists {
                path: self.object.key.to_string(),
                source: "written by another run meanwhile".into(),
            };
            return Err(finish_error(&url, exists));
        }
        let list = uploads();
        let completed = match lock(&upload).take() {
            Some(mut upload) => runtime::block_on(upload.complete())?.map(|_| ()),
            None => Err(object_store::Error::Generic {
                store: "upload",
                source: "the upload was aborted".into(),
            }),
        };
        drop(list);
        self.forget_upload();
        completed.map_err(|e| finish_error(&url, e))
    }

    /// Takes the upload off the list of those a signal aborts.
    fn forget_upload(&mut self) {
        if let Some(upload) = self.upload.take() {
            uploads().retain(|u| !Arc::ptr_eq(u, &upload));
        }
    }
}

/// The error of finishing an object; one that exists already is said plainly.
fn finish_error(url: &str, err: object_store::Error) -> Error {
    if matches!(err, object_store::Error::AlreadyExists { .. }) {
        let exists = io::Error::new(
            io::ErrorKind::AlreadyExists,
            "another run wrote this object meanwhile, and a finished output is never replaced",
        );
        return Error::io(url, "create", exists);
    }
    Error::io(url, "write", io_error(err))
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(PART_SIZE - self.part.len());
        if self.part.capacity() == 0 {
            self.part.reserve_exact(PART_SIZE);
        }
        self.part.extend_from_slice(&buf[..n]);
        if self.part.len() == PART_SIZE {
            self.send_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Not committed (an error, or a commit that failed): abort, so no parts are left.
        let Some(upload) = self.upload.clone() else {
            return;
        };
        for handle in self.in_flight.drain(..) {
            handle.abort();
        }
        let list = uploads();
        if let Some(mut upload) = lock(&upload).take() {
            let _ = runtime::block_on(async {
                tokio::time::timeout(ABORT_TIMEOUT, upload.abort()).await
            });
        }
        drop(list);
        self.forget_upload();
    }
}

/// Writes `bytes` as the object at `url`, whole or not at all (replacing any object there).
pub fn write_whole(url: &str, bytes: &[u8]) -> Result<()> {
    let mut writer = ObjectWriter::create(Object::open(url)?, false);
    writer
        .write_all(bytes)
        .map_err(|e| Error::io(url, "write", e))?;
    writer.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path as Key;
    use object_store::ObjectStore;

    fn object(store: &Arc<InMemory>, key: &str) -> Object {
        Object {
            store: Arc::clone(store) as Arc<dyn ObjectStore>,
            key: Key::from(key),
            url: format!("s3://bkt/{key}"),
        }
    }

    fn read(store: &InMemory, key: &str) -> Option<Vec<u8>> {
        let got = runtime::block_on(async {
            match store.get(&Key::from(key)).await {
                Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
                Err(_) => None,
            }
        });
        got.unwrap()
    }

    /// Bytes that fill `parts` whole parts and a bit, so a multipart upload is used.
    fn large(parts: usize) -> Vec<u8> {
        (0..parts * PART_SIZE + 123)
            .map(|i| (i % 251) as u8)
            .collect()
    }

    #[test]
    fn an_object_appears_whole_on_commit_and_not_before() {
        let store = Arc::new(InMemory::new());
        for (key, bytes) in [("small", b"a,b\n1,2\n".to_vec()), ("large", large(3))] {
            let mut writer = ObjectWriter::create(object(&store, key), true);
            for chunk in bytes.chunks(1_000_003) {
                writer.write_all(chunk).unwrap();
            }
            assert_eq!(read(&store, key), None, "{key}");
            writer.commit().unwrap();
            assert_eq!(read(&store, key).unwrap(), bytes, "{key}");
        }
    }

    #[test]
    fn an_upload_dropped_without_commit_leaves_no_object() {
        let store = Arc::new(InMemory::new());
        let mut writer = ObjectWriter::create(object(&store, "p.csv"), false);
        writer.write_all(&large(2)).unwrap();
        drop(writer);
        assert_eq!(read(&store, "p.csv"), None);
    }

    #[test]
    fn a_shard_output_written_meanwhile_by_another_run_is_never_replaced() {
        let store = Arc::new(InMemory::new());
        for bytes in [b"mine\n".to_vec(), large(1)] {
            let mut writer = ObjectWriter::create(object(&store, "part.csv"), true);
            writer.write_all(&bytes).unwrap();
            let theirs = PutPayload::from(b"theirs\n".to_vec());
            let key = Key::from("part.csv");
            runtime::block_on(store.put(&key, theirs)).unwrap().unwrap();
            let err = writer.commit().unwrap_err();
            assert_eq!(err.exit_code(), 5);
            assert_eq!(
                err.to_string(),
                "s3://bkt/part.csv: cannot create: another run wrote this object meanwhile, and a finished output is never replaced"
            );
            assert_eq!(read(&store, "part.csv").unwrap(), b"theirs\n");
            runtime::block_on(store.delete(&key)).unwrap().unwrap();
        }
    }
}
