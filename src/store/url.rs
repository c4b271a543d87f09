//! Object storage URLs: which paths are URLs, and what they name.
//!
//! `s3://bucket/key`, `gs://bucket/key` and `az://container/key` name an object (a key ending
//! in `/` names a prefix); `file:///path` is a local path written as a URL and is read and
//! written as that path ([`local_path`]). A URL never carries a secret here: credentials come
//! only from the environment, so a URL is safe to print in any message.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as Key;
use object_store::ObjectStore;

use crate::error::{Error, Result};

/// The clouds a URL may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// `s3://`: Amazon S3 or an S3-compatible store (MinIO, Ceph, R2; `AWS_ENDPOINT_URL`).
    S3,
    /// `gs://`: Google Cloud Storage.
    Gcs,
    /// `az://`: Azure Blob Storage.
    Azure,
}

const SCHEMES: [(&str, Cloud); 3] = [
    ("s3://", Cloud::S3),
    ("gs://", Cloud::Gcs),
    ("az://", Cloud::Azure),
];

/// An object storage URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// Which cloud.
    pub cloud: Cloud,
    /// The bucket (or Azure container).
    pub bucket: String,
    /// The key within it, as spelled (a prefix ends in `/`).
    pub key: String,
}

/// Whether `path` is an object storage URL (`s3://`, `gs://`, `az://`) rather than a local
/// path. `file://` URLs are local paths ([`local_path`]).
pub fn is_url(path: &str) -> bool {
    SCHEMES.iter().any(|(scheme, _)| path.starts_with(scheme))
}

/// A `file://` URL as the local path it names (`file:///data/in.csv` is `/data/in.csv`);
/// anything else as given. For clap's `value_parser`, so every path flag takes one.
pub fn local_path(path: &str) -> std::result::Result<String, String> {
    match path.strip_prefix("file://") {
        None => Ok(path.to_string()),
        Some(rest) if rest.starts_with('/') => Ok(rest.to_string()),
        Some(_) => Err(format!(
            "{path}: a file URL names an absolute path on this machine, as in file:///data/in.csv"
        )),
    }
}

/// Whether `path` is an object storage URL naming a prefix (ending in `/`).
pub fn is_prefix(path: &str) -> bool {
    is_url(path) && path.ends_with('/')
}

impl ObjectUrl {
    /// Takes `url` apart: a usage error (exit 2) when it names no bucket or no key.
    pub fn parse(url: &str) -> Result<ObjectUrl> {
        let (cloud, rest) = SCHEMES
            .iter()
            .find_map(|(scheme, cloud)| url.strip_prefix(scheme).map(|rest| (*cloud, rest)))
            .ok_or_else(|| Error::Usage(format!("{url}: not an s3://, gs:// or az:// URL")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        // `s3://bucket/` is the bucket's root as a prefix; `s3://bucket` and `s3://bucket//`
        // name nothing.
        let root = rest.ends_with('/') && key.is_empty();
        if bucket.is_empty() || (key.trim_matches('/').is_empty() && !root) {
            return Err(Error::Usage(format!(
                "{url}: name a bucket and an object in it, as in s3://bucket/data/test.csv (or a prefix, ending in /)"
            )));
        }
        let parsed = ObjectUrl {
            cloud,
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        Key::parse(&parsed.key).map_err(|e| {
            Error::Usage(format!(
                "{url}: not a valid object key: {e}; remove empty parts such as //"
            ))
        })?;
        Ok(parsed)
    }

    /// Whether the URL names a prefix (every object under it; the bucket's root for an empty
    /// key) rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The key as the client spells it (without a prefix's final `/`).
    pub fn key(&self) -> Key {
        Key::parse(&self.key).expect("checked by ObjectUrl::parse")
    }

    /// Whether `other` is this URL's object, or under this prefix: for the aliasing check.
    pub fn contains(&self, other: &ObjectUrl) -> bool {
        self.cloud == other.cloud
            && self.bucket == other.bucket
            && if self.is_prefix() {
                other.key.starts_with(&self.key)
            } else {
                self.key == other.key
            }
    }

    /// A client for the bucket, configured from the environment as the cloud's own tools are.
    pub fn client(&self) -> Result<Arc<dyn ObjectStore>> {
        let root = format!("{}{}", self.scheme(), self.bucket);
        let built: object_store::Result<Arc<dyn ObjectStore>> = match self.cloud {
            Cloud::S3 => AmazonS3Builder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as _),
            Cloud::Gcs => GoogleCloudStorageBuilder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as _),
            Cloud::Azure => MicrosoftAzureBuilder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as _),
        };
        built.map_err(|e| {
            Error::io(
                &format!("{root}/"),
                "configure a client for",
                super::io_error(e),
            )
        })
    }

    fn scheme(&self) -> &'static str {
        SCHEMES
            .iter()
            .find(|(_, cloud)| *cloud == self.cloud)
            .map(|(scheme, _)| *scheme)
            .expect("every cloud has a scheme")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_taken_apart_into_cloud_bucket_and_key() {
        let url = ObjectUrl::parse("s3://b/dir/in.csv").unwrap();
        assert_eq!(url.cloud, Cloud::S3);
        assert_eq!(url.bucket, "b");
        assert_eq!(url.key, "dir/in.csv");
        assert!(!url.is_prefix());
        assert!(ObjectUrl::parse("gs://b/dir/").unwrap().is_prefix());
        assert_eq!(ObjectUrl::parse("az://c/k").unwrap().cloud, Cloud::Azure);
        assert!(is_url("s3://b/k") && !is_url("data/s3://x") && !is_url("file:///x"));
    }

    #[test]
    fn a_url_without_a_bucket_or_key_is_a_usage_error() {
        for url in [
            "s3://",
            "s3://b",
            "s3://b//",
            "s3:///k",
            "s3://b/a//c",
            "s3:///",
        ] {
            let err = ObjectUrl::parse(url).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{url}");
            assert!(err.to_string().starts_with(&format!("{url}: ")), "{err}");
        }
    }

    #[test]
    fn a_bucket_root_is_a_prefix_of_every_object_in_the_bucket() {
        let root = ObjectUrl::parse("s3://b/").unwrap();
        assert!(root.is_prefix());
        assert_eq!(root.key().as_ref(), "");
        assert!(root.contains(&ObjectUrl::parse("s3://b/x.csv").unwrap()));
        assert!(root.contains(&ObjectUrl::parse("s3://b/in/out.csv").unwrap()));
        assert!(!root.contains(&ObjectUrl::parse("s3://c/x.csv").unwrap()));
    }

    #[test]
    fn a_prefix_contains_the_objects_under_it_and_an_object_only_itself() {
        let prefix = ObjectUrl::parse("s3://b/in/").unwrap();
        assert!(prefix.contains(&ObjectUrl::parse("s3://b/in/out.csv").unwrap()));
        assert!(!prefix.contains(&ObjectUrl::parse("s3://c/in/out.csv").unwrap()));
        assert!(!prefix.contains(&ObjectUrl::parse("gs://b/in/out.csv").unwrap()));
        let object = ObjectUrl::parse("s3://b/in.csv").unwrap();
        assert!(object.contains(&ObjectUrl::parse("s3://b/in.csv").unwrap()));
        assert!(!object.contains(&ObjectUrl::parse("s3://b/in.csv.gz").unwrap()));
    }

    #[test]
    fn a_file_url_is_its_local_path() {
        assert_eq!(local_path("file:///data/in.csv").unwrap(), "/data/in.csv");
        assert_eq!(local_path("data/in.csv").unwrap(), "data/in.csv");
        assert!(local_path("file://host/in.csv").is_err());
    }
}
