//! Where bytes come from and go to: object storage (`s3://`, `gs://` and `az://` URLs read
//! and written through the `object_store` crate, so that every path the commands take may
//! also be one of them), and the decompression of any byte source.
//!
//! The rest of the program is synchronous (threads and `std::io`); this folder keeps the
//! asynchronous client to itself. In data-path order: [`url`] tells a URL from a local path
//! and names an object without any secret; [`runtime`] owns the small tokio runtime the
//! client runs on; [`get`] reads an object (whole, or a byte range, as for a shard) as a
//! `std::io::Read`, and [`chunks`] a Parquet object by the byte ranges of its footer and column
//! chunks ([`whole`]: in one pass, for `train`'s digest; [`source`]: any of them or a local file, as one reader); [`list`] expands a prefix
//! (`s3://bucket/dir/`) into its objects in key order; [`put`] writes an object whole or not
//! at all (a multipart upload completed only on success, aborted on any error or signal). Any
//! byte source, a local file or standard input as well as an object, is decompressed by
//! [`compression`] when it is gzip or zstd, on a thread of its own ([`read_ahead`]).
//! Credentials, regions and endpoints come from the environment, as each cloud's own tools
//! read them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, ...).

use std::io;
use std::sync::Arc;

use object_store::path::Path as Key;
use object_store::ObjectStore;

use crate::error::{Error, Result};

pub mod chunks;
pub mod compression;
pub mod get;
pub mod list;
pub mod positioned;
pub mod prefix;
pub mod put;
pub mod read_ahead;
pub mod runtime;
pub mod source;
pub mod url;
pub mod whole;

pub use url::{is_prefix, is_url, local_path, ObjectUrl};

/// One object (or prefix) in a store: the client, its key, and its URL for messages.
#[derive(Clone)]
pub struct Object {
    /// The client of the bucket (or container) the object is in.
    pub store: Arc<dyn ObjectStore>,
    /// The object's key in the bucket.
    pub key: Key,
    /// The URL as the user gave it, for messages.
    pub url: String,
}

impl Object {
    /// The object named by `url` (an `s3://`, `gs://` or `az://` URL), with a client configured
    /// from the environment. A prefix (a URL ending in `/`) is a usage error here: the client
    /// would drop the `/` and read or write the object named like the folder.
    pub fn open(url: &str) -> Result<Object> {
        if ObjectUrl::parse(url)?.is_prefix() {
            return Err(Error::Usage(format!(
                "{url} ends in /, so it names a prefix (a folder of objects), and one object is needed here; name the object, as in {url}NAME"
            )));
        }
        Object::prefix(url)
    }

    /// The prefix or object named by `url`, with a client configured from the environment:
    /// for listing a prefix.
    pub fn prefix(url: &str) -> Result<Object> {
        let parsed = ObjectUrl::parse(url)?;
        let store = parsed.client()?;
        Ok(Object {
            store,
            key: parsed.key(),
            url: url.to_string(),
        })
    }

    /// The object named `key` in the same bucket, with `url` as its name.
    pub fn sibling(&self, key: Key, url: String) -> Object {
        Object {
            store: Arc::clone(&self.store),
            key,
            url,
        }
    }

    /// The object's size in bytes; `None` when there is no such object.
    pub fn size(&self) -> Result<Option<u64>> {
        let head = runtime::block_on(self.store.head(&self.key))?;
        match head {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.error("read", err)),
        }
    }

    /// An I/O error (exit 5) about this object: `s3://b/k: cannot read: ...`. The client's
    /// message names the request, never a credential.
    pub fn error(&self, action: &'static str, err: object_store::Error) -> Error {
        let source = io_error(err);
        let pattern = self.key.as_ref().contains(['*', '?', '[']);
        if source.kind() == io::ErrorKind::NotFound && pattern {
            // DuckDB and polars read `s3://b/in/*.csv`; here a URL names one object or prefix.
            let hint = format!(
                "{source}; a URL is not a pattern: to read every object under a folder, give the prefix ending in /"
            );
            return Error::io(&self.url, action, io::Error::new(source.kind(), hint));
        }
        Error::io(&self.url, action, source)
    }
}

/// The client's error as an `std::io::Error`, its message trimmed of the response body that
/// some stores append (an XML document), which says nothing the status does not.
pub fn io_error(err: object_store::Error) -> io::Error {
    let kind = match &err {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    let text = err.to_string();
    let text = text.split("<?xml").next().unwrap_or(&text).trim_end();
    io::Error::new(kind, text.trim_end_matches(':').to_string())
}
