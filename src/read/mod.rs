//! Bytes to batches: the parsing half of the data path, shared by scoring (one block at a time,
//! on several threads) and training ([`reader::BatchReader`], sequential).
//!
//! In data-path order: [`block`] cuts the input into blocks of whole records and reads the
//! header, which [`header`] checks; [`shard`] gives a shard's byte range of a file instead of the
//! whole. [`selection`] finds the model's columns in the header, and [`names`] words what a
//! file lacks (for Parquet too). [`fill_batch`] then parses a block's rows into a
//! [`batch::Batch`]: blocks without quotes line by line ([`plain`], with the
//! AVX-512 line reader of [`vector`] or the AVX2 one of [`avx2`] where the CPU has it, as
//! [`cpu`] chooses), blocks with quotes record by record through csv-core ([`quoted`]), numbers
//! by [`number`]; [`cursor`] keeps the place in the block. What is wrong with a row, and how it
//! is told, is [`problem`]; whether a scored row can be written, [`unwritable`]. All readers
//! accept the same rows and report the same errors (the vector reader reports none: it leaves
//! any line it does not take to the others), which the tests below check against csv-core. A
//! Parquet input is read by [`parquet`] instead, one file or object (or each under a prefix, as
//! [`parquet_parts`] opens them) at a time.

use std::fs::File;
use std::io::{self, Read};

use crate::error::{Error, Result};
use crate::read::batch::Batch;
use crate::read::block::Block;
use crate::read::cursor::Cursor;
use crate::read::problem::{Reject, RowError};
use crate::read::selection::Selection;
use crate::store::compression::{self, Compression};

pub mod avx2;
pub mod batch;
pub mod block;
pub mod boundary;
pub mod cpu;
pub mod cursor;
pub mod header;
pub mod names;
pub mod number;
pub mod parquet;
pub mod parquet_parts;
pub mod plain;
pub mod problem;
pub mod quoted;
pub mod reader;
pub mod selection;
pub mod shard;
pub mod unwritable;
pub mod vector;

/// The display name of standard input.
pub const STDIN: &str = "<stdin>";

/// An opened input: its text, decompressed when the file is compressed.
pub struct Input {
    /// The text of the input.
    pub reader: Box<dyn Read + Send>,
    /// The compression it was read through, if any.
    pub compression: Option<Compression>,
}

/// Opens `path` for reading, `-` meaning standard input; a gzip or zstd file (by its magic
/// bytes or its extension) is read decompressed.
pub fn open_input(path: &str) -> Result<Input> {
    let mut raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else if crate::store::is_url(path) {
        crate::store::get::open(path)?
    } else {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, "read", e))?;
        if meta.is_dir() {
            return Err(Error::directory(
                path,
                "read",
                "give a CSV or Parquet file in it (every object under a prefix is read when \
                 the path is an s3://, gs:// or az:// URL ending in /)",
            ));
        }
        Box::new(file)
    };
    let name = display_name(path);
    let start = compression::read_start(name, &mut raw)?;
    let (reader, compression) = compression::decompressed(name, start, raw)?;
    Ok(Input {
        reader,
        compression,
    })
}

/// The name of an input in messages: the path as given, or `<stdin>` for `-`.
pub fn display_name(path: &str) -> &str {
    if path == "-" {
        STDIN
    } else {
        path
    }
}

/// Parses rows of `block` from `cur` into `batch` until the batch is full or the block ends.
/// A bad row is an error, or, when `rejects` is given, set aside there.
pub fn fill_batch(
    selection: &Selection,
    block: &Block,
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    if block.quoted {
        quoted::fill_quoted(selection, &block.data, cur, batch, rejects)
    } else {
        plain::fill_plain(selection, &block.data, cur, batch, rejects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::header::Header;

    /// Everything the plain path gives for a block: values, ids and rejects, batch by batch.
    fn read_block(selection: &Selection, data: &[u8], quoted: bool) -> Vec<String> {
        let block = Block {
            seq: 0,
            data: data.to_vec(),
            quoted,
        };
        let mut cursor = Cursor::default();
        let mut batch = Batch::new(4, selection.width());
        batch.ids = selection.new_ids();
        let mut rejects = Vec::new();
        let mut seen = Vec::new();
        loop {
            batch.clear();
            fill_batch(
                selection,
                &block,
                &mut cursor,
                &mut batch,
                Some(&mut rejects),
            )
            .unwrap();
            for i in 0..batch.rows {
                let bits: Vec<u64> = batch.x.row(i).iter().map(|v| v.to_bits()).collect();
                let id = selection.has_id().then(|| batch.ids.get(i));
                seen.push(format!("{bits:?} {id:?}"));
            }
            if batch.rows == 0 || cursor.pos >= block.data.len() {
                break;
            }
        }
        seen.extend(rejects.iter().map(|r| format!("{r:?}")));
        seen.push(format!("{} lines", cursor.newlines));
        seen
    }

    #[test]
    fn the_one_pass_and_vector_line_readers_read_every_line_as_csv_core_does() {
        // Plain blocks offer each line to the vector reader (where the CPU has one and there is
        // no id), then take simple lines in one pass and leave the rest to the field-by-field
        // reader; csv-core, which quoted blocks use, is the reference for all of them.
        let headers = [["a", "id", "b", "skip"], ["skip", "b", "a", "id"]];
        let mut selections = Vec::new();
        for (names, id) in [
            (headers[0], vec!["id".into()]),
            (headers[1], vec!["id".into()]),
        ]
        .into_iter()
        .chain(headers.map(|names| (names, vec![])))
        {
            let header = Header::parse("in.csv", &csv::ByteRecord::from(names.to_vec())).unwrap();
            let names = ["b".into(), "a".into()];
            let selection = Selection::new(&header, &names, "feature", &id).unwrap();
            let chosen = cpu::chosen().unwrap();
            assert_eq!(
                selection.has_vector_reader(),
                id.is_empty() && chosen != cpu::LineReader::Scalar
            );
            selections.push(selection);
        }
        // Cells the vector reader takes, and cells that send a line to the other readers.
        let simple = [
            "1",
            "-2.5",
            "0.00632",
            "394.33",
            "5.",
            ".5",
            "-.5",
            "-0",
            "12345678",
            "-99999999",
            ".12345678",
            "0.0000001",
        ];
        let long_zero = format!("0.{}1", "0".repeat(70));
        let others = [
            "+7",
            "1e3",
            "2.5E-2",
            " 4",
            "5 ",
            "",
            "x",
            "1.2.3",
            "1..",
            "--1",
            "-",
            ".",
            "1e",
            "123456789",
            "0.123456789",
            "12345678901234567890",
            "9007199254740993",
            "inf",
            "NaN",
            &long_zero,
        ];
        let mut rng = crate::testing::Rng(5);
        for case in 0..4000 {
            let eol = if rng.one_in(3) { "\r\n" } else { "\n" };
            let mut text = String::new();
            for _ in 0..rng.below(6) {
                if rng.one_in(8) {
                    text += eol;
                    continue;
                }
                let fields = [3, 4, 4, 4, 4, 5][rng.below(6) as usize];
                let row: Vec<&str> = (0..fields)
                    .map(|_| match rng.one_in(6) {
                        true => others[rng.below(others.len() as u64) as usize],
                        false => simple[rng.below(simple.len() as u64) as usize],
                    })
                    .collect();
                text += &row.join(",");
                text += eol;
            }
            if rng.one_in(3) {
                text.truncate(text.len().saturating_sub(eol.len()));
            }
            let selection = &selections[case % 4];
            let reference = read_block(selection, text.as_bytes(), true);
            // Every reader this CPU runs, whichever the environment chose.
            for reader in cpu::runnable() {
                let selection = selection.clone().with_line_reader(reader);
                assert_eq!(
                    read_block(&selection, text.as_bytes(), false),
                    reference,
                    "case {case}, {reader:?} reader: {text:?}"
                );
            }
        }
    }

    /// A cell for [`every_line_reader_reads_long_lines_of_varied_numbers_as_csv_core_does`]:
    /// mostly `[+-]digits[.digits][e[+-]digits]` with 1 to 9 digits (1 to 40 now and then),
    /// leading zeros, the dot anywhere (`.5`, `5.`) or missing; now and then not a number, or
    /// quoted.
    fn varied_number(rng: &mut crate::testing::Rng) -> String {
        if rng.one_in(60) {
            let odd = [
                "\"7\"", "", "x", "1e", "-", ".", "+.5", " 1", "1.2.3", "--1",
            ];
            return odd[rng.below(odd.len() as u64) as usize].into();
        }
        let mut s = String::new();
        match rng.below(8) {
            0 | 1 => s.push('-'),
            2 if rng.one_in(4) => s.push('+'),
            _ => {}
        }
        let digits = if rng.one_in(8) {
            1 + rng.below(40)
        } else {
            1 + rng.below(9)
        };
        let dot = (!rng.one_in(3)).then(|| rng.below(digits + 1));
        for i in 0..digits {
            if dot == Some(i) {
                s.push('.');
            }
            let digit = if rng.one_in(4) {
                0
            } else {
                rng.below(10) as u8
            };
            s.push(char::from(b'0' + digit));
        }
        if dot == Some(digits) {
            s.push('.');
        }
        if rng.one_in(12) {
            s.push(['e', 'E'][rng.below(2) as usize]);
            if rng.one_in(2) {
                s.push(['-', '+'][rng.below(2) as usize]);
            }
            s += &rng.below(400).to_string();
        }
        s
    }

    #[test]
    fn every_line_reader_reads_long_lines_of_varied_numbers_as_csv_core_does() {
        // Lines of 1 to 17 fields, many past 64 and 128 bytes, in blocks mostly longer than 128
        // bytes (the vector readers load a line from the block itself there, and from a copy
        // near its end), so every line reader meets what the short lines above rarely give.
        let mut rng = crate::testing::Rng(19);
        let mut vector_blocks = 0;
        for case in 0..1500 {
            let fields = 1 + rng.below(17) as usize;
            let names: Vec<String> = (0..fields).map(|i| format!("c{i}")).collect();
            let header = Header::parse("in.csv", &csv::ByteRecord::from(names.clone())).unwrap();
            // Some of the columns (at least one), in either order.
            let mut chosen: Vec<String> =
                names.iter().filter(|_| !rng.one_in(4)).cloned().collect();
            if chosen.is_empty() {
                chosen.push(names[fields - 1].clone());
            }
            if rng.one_in(2) {
                chosen.reverse();
            }
            let selection = Selection::new(&header, &chosen, "feature", &[]).unwrap();
            let eol = if rng.one_in(4) { "\r\n" } else { "\n" };
            let mut text = String::new();
            for _ in 0..1 + rng.below(12) {
                // Now and then a field too few or too many.
                let count = match rng.below(30) {
                    0 => fields.saturating_sub(1),
                    1 => fields + 1,
                    _ => fields,
                };
                let row: Vec<String> = (0..count).map(|_| varied_number(&mut rng)).collect();
                text += &row.join(",");
                text += eol;
            }
            if rng.one_in(4) {
                text.truncate(text.len() - eol.len());
            }
            // A quote makes the block a quoted one, which csv-core reads whatever the CPU.
            let quoted = text.contains('"');
            let reference = read_block(&selection, text.as_bytes(), true);
            for reader in cpu::runnable() {
                let selection = selection.clone().with_line_reader(reader);
                vector_blocks += usize::from(selection.has_vector_reader() && !quoted);
                assert_eq!(
                    read_block(&selection, text.as_bytes(), quoted),
                    reference,
                    "case {case}, {reader:?} reader: {text:?}"
                );
            }
        }
        // The vector readers had blocks to read, where the CPU has one.
        let vector = cpu::runnable().len() > 1;
        assert_eq!(vector_blocks > 1000, vector, "{vector_blocks}");
    }
}
