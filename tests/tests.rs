//! End-to-end tests: every test runs the real `batch_inference` binary in a fresh folder.
//! One integration binary (as ripgrep does) keeps link time down.

mod util;

mod algorithms;
mod compressed;
mod docs;
mod errors;
mod faults;
mod global;
mod import;
mod import_sources;
mod inspect;
mod memory;
mod parquet;
mod paths;
mod pipes;
mod rejects;
mod report;
mod s3;
mod score;
mod serve;
mod shard;
mod train;
mod trees;
