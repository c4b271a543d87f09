//! A prefix (`s3://bucket/in/`) as the objects under it, in key order.

use futures_util::stream::TryStreamExt;

use crate::error::{Error, Result};
use crate::store::{runtime, Object, ObjectUrl};

/// One object found under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its URL, for messages and for opening it.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The objects under the prefix `url` (which ends in `/`), in key order. An empty prefix is
/// an I/O error (exit 5): there is nothing to read, which is most often a misspelled prefix.
pub fn objects_under(url: &str) -> Result<(Object, Vec<Listed>)> {
    let parsed = ObjectUrl::parse(url)?;
    let prefix = Object::prefix(url)?;
    let found = runtime::block_on(prefix.store.list(Some(&prefix.key)).try_collect::<Vec<_>>())?;
    let mut found = found.map_err(|e| prefix.error("list", e))?;
    found.sort_by(|a, b| a.location.cmp(&b.location));
    let base = &url[..url.len() - parsed.key.len()];
    let listed: Vec<Listed> = found
        .into_iter()
        .map(|meta| Listed {
            url: format!("{base}{}", meta.location),
            size: meta.size,
        })
        .collect();
    if listed.is_empty() {
        return Err(Error::io(
            url,
            "list",
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no object under this prefix; check its spelling and the trailing /",
            ),
        ));
    }
    Ok((prefix, listed))
}
