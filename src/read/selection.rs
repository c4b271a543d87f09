//! Which fields of a row to read: the model's columns, found by name in the header, into batch
//! columns, and any id columns carried along as text; and the field-by-field reader of
//! one record that decides what is wrong with a row.

use crate::error::Result;
use crate::read::batch::Ids;
use crate::read::cpu::{self, LineReader};
use crate::read::header::Header;
use crate::read::names::unknown_id_columns;
use crate::read::number::parse_number;
use crate::read::problem::{Columns, RowProblem};
use crate::read::vector::Lines;

/// Which fields of each row to read: numeric columns into batch columns, and any ids.
#[derive(Debug, Clone)]
pub struct Selection {
    path: String,
    names: Vec<String>,
    /// The id columns' names, in the order asked for.
    id_names: Vec<String>,
    /// For each field of a row, the batch column it fills, if any.
    pub(crate) slot_of_field: Vec<Option<usize>>,
    /// The fields copied as each row's ids, in the order asked for.
    pub(crate) id_fields: Vec<usize>,
    /// For each field of a row, whether it is an id.
    pub(crate) is_id: Vec<bool>,
    /// Fields in the header, which every row must have.
    pub(crate) field_count: usize,
    /// The vector line reader, where the CPU and the row's shape allow it.
    pub(crate) lines: Option<Lines>,
}

impl Selection {
    /// Selects `names` (numeric, in this order) and the id columns `ids` (none, one or several,
    /// each named once: [`crate::score::plan`] checks that) from `header`. `what` names the
    /// numeric columns in messages ("feature"). An id column the file does not have is a usage
    /// error: the command line names it. Lines of plain numbers go to the line reader
    /// [`cpu::chosen`] gives (a usage error if `BATCH_INFERENCE_CPU` names one this CPU cannot
    /// run).
    pub fn new(header: &Header, names: &[String], what: &str, ids: &[String]) -> Result<Selection> {
        let fields = header.resolve(names, what)?;
        let mut slot_of_field = vec![None; header.names().len()];
        for (slot, &field) in fields.iter().enumerate() {
            slot_of_field[field] = Some(slot);
        }
        let id_fields = match header.resolve(ids, "id") {
            Ok(fields) => fields,
            Err(_) => return Err(unknown_id_columns(header.path(), header.names(), ids)),
        };
        let mut is_id = vec![false; header.names().len()];
        for &field in &id_fields {
            is_id[field] = true;
        }
        let field_count = header.names().len();
        let lines = Lines::new(
            cpu::chosen()?,
            &slot_of_field,
            field_count,
            names.len(),
            !ids.is_empty(),
        );
        Ok(Selection {
            path: header.path().to_string(),
            names: names.to_vec(),
            id_names: ids.to_vec(),
            slot_of_field,
            id_fields,
            is_id,
            field_count,
            lines,
        })
    }

    /// A batch's empty ids for this selection's id columns.
    pub fn new_ids(&self) -> Ids {
        let mut sorted = self.id_fields.clone();
        sorted.sort_unstable();
        let order = self
            .id_fields
            .iter()
            .map(|f| {
                sorted
                    .binary_search(f)
                    .expect("every id field is in the list")
            })
            .collect();
        Ids::new(order)
    }

    /// Reads every line with the scalar reader, even where a vector one could run (for tests
    /// and benchmarks comparing them).
    pub fn without_vector_reader(self) -> Selection {
        self.with_line_reader(LineReader::Scalar)
    }

    /// Reads lines of plain numbers with `reader` where the CPU runs it and the row's shape
    /// allows it, with the scalar reader otherwise (for tests and benchmarks comparing them).
    pub fn with_line_reader(mut self, reader: LineReader) -> Selection {
        let width = self.width();
        self.lines = Lines::new(
            reader,
            &self.slot_of_field,
            self.field_count,
            width,
            !self.id_fields.is_empty(),
        );
        self
    }

    /// Whether lines of plain numbers are read by a vector reader.
    pub fn has_vector_reader(&self) -> bool {
        self.lines.is_some()
    }

    /// The reader of lines of plain numbers.
    pub fn line_reader(&self) -> LineReader {
        self.lines
            .as_ref()
            .map_or(LineReader::Scalar, Lines::reader)
    }

    /// The input's name in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The input's columns, for messages about its rows.
    pub fn columns(&self) -> Columns<'_> {
        Columns {
            path: &self.path,
            field_count: self.field_count,
            names: &self.names,
            ids: &self.id_names,
        }
    }

    /// How many numeric columns a row fills.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Whether id columns are carried.
    pub fn has_id(&self) -> bool {
        !self.id_fields.is_empty()
    }

    /// The id columns' names, in the order asked for.
    pub fn id_names(&self) -> &[String] {
        &self.id_names
    }

    /// Parses one record's fields into `row`. A wrong field count is reported before a bad
    /// value, as the csv crate does. Every reader but the vector one ends here
    /// for a row it does not take whole, so this alone decides what is wrong with a row.
    #[inline]
    pub(crate) fn fill_row<'a>(
        &self,
        fields: impl Iterator<Item = &'a [u8]>,
        row: &mut [f64],
        ids: &mut Ids,
    ) -> Result<(), RowProblem> {
        let mut bad: Option<RowProblem> = None;
        let mut count = 0;
        for (k, field) in fields.enumerate() {
            count = k + 1;
            let Some(&slot) = self.slot_of_field.get(k) else {
                continue;
            };
            if let Some(slot) = slot {
                match parse_number(field) {
                    Ok(value) => row[slot] = value,
                    Err(kind) => {
                        bad.get_or_insert_with(|| RowProblem::number(k, slot, field, kind));
                    }
                }
            }
            if self.is_id[k] {
                ids.push(field);
            }
        }
        if count != self.field_count {
            return Err(RowProblem::FieldCount { found: count });
        }
        match bad {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}
