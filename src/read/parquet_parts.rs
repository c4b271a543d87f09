//! A Parquet input in parts: one file or object, or every object under a prefix (in key
//! order), each read by its own [`ParquetReader`], and a shard's share of them.
//!
//! Every object under a prefix must have the first's columns, in the same order (as a CSV
//! prefix's headers must match), checked from the footers before anything is scored. A shard
//! takes whole row groups, counted across all the parts: shard `I` of `N` reads row groups
//! `[I·G/N, (I+1)·G/N)` of the `G` in all, so one object is split as a file is, and shards
//! of a prefix add up to the whole in order.

use crate::error::{Error, Location, Result};
use crate::read::parquet::{open_file, ParquetReader};
use crate::read::shard::Shard;
use crate::store::source::Chunks;

/// Opens the Parquet file, object or prefix at `path`, restricted to `shard`'s row groups.
pub fn open_parts(path: &str, shard: Option<Shard>) -> Result<Vec<ParquetReader<Chunks>>> {
    let mut parts = Vec::new();
    if crate::store::is_prefix(path) {
        let (_, listed) = crate::store::list::objects_under(path)?;
        let mut first: Option<(String, Vec<String>)> = None;
        for object in listed.iter().filter(|o| o.size > 0) {
            let part = open_file(&object.url)?;
            let names = part.column_names();
            match &first {
                None => first = Some((object.url.clone(), names)),
                Some((first_url, first_names)) if *first_names != names => {
                    return Err(Error::data(
                        Location::file(&object.url),
                        format!(
                            "its columns are not those of {first_url}, the first object under the prefix: every object under a prefix must have the same columns in the same order"
                        ),
                    ));
                }
                Some(_) => {}
            }
            parts.push(part);
        }
    } else {
        parts.push(open_file(path)?);
    }
    if let Some(shard) = shard {
        let total: usize = parts.iter().map(|p| p.row_groups().len()).sum();
        let at = |i: u64| (total as u128 * u128::from(i) / u128::from(shard.count)) as usize;
        let (from, to) = (at(shard.index), at(shard.index + 1));
        let mut before = 0;
        for part in &mut parts {
            let groups = part.row_groups().len();
            let local = |g: usize| g.clamp(before, before + groups) - before;
            part.restrict_to_groups(local(from)..local(to));
            before += groups;
        }
    }
    Ok(parts)
}
