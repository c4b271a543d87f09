//! Predictions as a Parquet file (`--output y.parquet`): the id columns, in the order asked
//! for and with their input types (text for a CSV input, the Parquet column's own type for a
//! Parquet input), then `prediction` as a double; zstd-compressed, in row groups of
//! [`ROW_GROUP_ROWS`] rows. The file is written through [`AtomicFile`] (an object through
//! [`ObjectWriter`]), so it appears whole or not at all.
//!
//! Workers encode rows with [`encode_row`] into the same byte buffers as the text formats (the
//! prediction's 8 bytes, then each id's length and bytes), so the pipeline stays the same;
//! [`ParquetSink`] decodes them into columns. A Parquet id read from an input is its value's
//! shortest text, which reads back as the same value here; an empty text in an optional column
//! that is not a byte array is a null.

use std::io::{self, Write};
use std::sync::Arc;

use ::parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType, ZstdLevel};
use ::parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    FloatType, Int32Type, Int64Type,
};
use ::parquet::file::properties::WriterProperties;
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::types::{ColumnPath, Type, TypePtr};

use crate::atomic::AtomicFile;
use crate::error::{Error, Result};
use crate::store::put::ObjectWriter;
use crate::store::Object;

/// Rows per row group of the output.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Appends one row (its prediction and ids) to `out`.
pub fn encode_row<'a>(prediction: f64, ids: impl Iterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(&prediction.to_le_bytes());
    for id in ids {
        out.extend_from_slice(&(id.len() as u32).to_le_bytes());
        out.extend_from_slice(id);
    }
}

/// The type of an id column read from a CSV: text.
pub fn text_column(name: &str) -> TypePtr {
    Arc::new(
        Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::String))
            .build()
            .expect("a required string column is a valid type"),
    )
}

/// A Parquet file of predictions being written.
pub struct ParquetSink {
    path: String,
    file: Option<Target>,
    writer: Option<SerializedFileWriter<Target>>,
    ids: Vec<TypePtr>,
    /// Buffered rows: predictions and each id column's texts.
    predictions: Vec<f64>,
    id_texts: Vec<Vec<Vec<u8>>>,
    /// Bytes of a row cut between two writes.
    partial: Vec<u8>,
}

impl ParquetSink {
    /// Starts the file at `path` (a temporary file until [`ParquetSink::finish`]).
    pub fn create(path: &str) -> Result<ParquetSink> {
        ParquetSink::to(path, Target::File(AtomicFile::create(path)?))
    }

    /// Starts the object at `url` (an upload completed only by [`ParquetSink::finish`]; with
    /// `create_only`, never replacing an object there).
    pub fn create_object(url: &str, create_only: bool) -> Result<ParquetSink> {
        let object = ObjectWriter::create(Object::open(url)?, create_only);
        ParquetSink::to(url, Target::Object(object))
    }

    fn to(path: &str, target: Target) -> Result<ParquetSink> {
        Ok(ParquetSink {
            path: path.to_string(),
            file: Some(target),
            writer: None,
            ids: Vec::new(),
            predictions: Vec::new(),
            id_texts: Vec::new(),
            partial: Vec::new(),
        })
    }

    /// Sets the id columns' types (names included), before the first row.
    pub fn set_id_columns(&mut self, ids: Vec<TypePtr>) {
        self.id_texts = vec![Vec::new(); ids.len()];
        self.ids = ids;
    }

    /// Takes rows encoded by [`encode_row`].
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.partial.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.partial);
        let mut at = 0;
        'rows: while at + 8 <= data.len() {
            let mut pos = at + 8;
            let mut texts = Vec::with_capacity(self.ids.len());
            for _ in 0..self.ids.len() {
                let Some(len) = data.get(pos..pos + 4) else {
                    break 'rows;
                };
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let Some(text) = data.get(pos + 4..pos + 4 + len) else {
                    break 'rows;
                };
                texts.push(text.to_vec());
                pos += 4 + len;
            }
            let prediction = f64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
            self.predictions.push(prediction);
            for (column, text) in self.id_texts.iter_mut().zip(texts) {
                column.push(text);
            }
            at = pos;
            if self.predictions.len() >= ROW_GROUP_ROWS {
                self.flush()?;
            }
        }
        self.partial = data[at..].to_vec();
        Ok(())
    }

    fn error(&self, err: impl std::fmt::Display) -> Error {
        Error::io(&self.path, "write", std::io::Error::other(err.to_string()))
    }

    /// Writes the buffered rows as a row group.
    fn flush(&mut self) -> Result<()> {
        if self.writer.is_none() {
            let mut fields = self.ids.clone();
            fields.push(Arc::new(
                Type::primitive_type_builder("prediction", PhysicalType::DOUBLE)
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .expect("a required double column is a valid type"),
            ));
            let schema = Type::group_type_builder("schema")
                .with_fields(fields)
                .build()
                .map_err(|e| self.error(e))?;
            let level = ZstdLevel::try_new(3).expect("3 is a zstd level");
            // Predictions are doubles that rarely repeat: a dictionary of them would only be
            // built, found too large and dropped for plain values, page after page.
            let properties = WriterProperties::builder()
                .set_compression(Compression::ZSTD(level))
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .set_column_dictionary_enabled(ColumnPath::from("prediction"), false)
                .build();
            let file = self.file.take().expect("the file is taken once");
            let writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties))
                .map_err(|e| self.error(e))?;
            self.writer = Some(writer);
        }
        if self.predictions.is_empty() {
            return Ok(());
        }
        let writer = self.writer.as_mut().expect("the writer was just made");
        let mut group = writer
            .next_row_group()
            .map_err(|e| Error::io(&self.path, "write", std::io::Error::other(e.to_string())))?;
        let wrap = |e: ::parquet::errors::ParquetError| {
            Error::io(&self.path, "write", std::io::Error::other(e.to_string()))
        };
        for (column, texts) in self.ids.iter().zip(&self.id_texts) {
            let mut writer = group.next_column().map_err(wrap)?.expect("a column per id");
            write_id_column(&mut writer, column, texts).map_err(wrap)?;
            writer.close().map_err(wrap)?;
        }
        let mut writer = group
            .next_column()
            .map_err(wrap)?
            .expect("the prediction column");
        writer
            .typed::<DoubleType>()
            .write_batch(&self.predictions, None, None)
            .map_err(wrap)?;
        writer.close().map_err(wrap)?;
        group.close().map_err(wrap)?;
        self.predictions.clear();
        for texts in &mut self.id_texts {
            texts.clear();
        }
        Ok(())
    }

    /// Writes the last row group and the footer, then renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        let writer = self.writer.take().expect("flush made the writer");
        let file = writer.into_inner().map_err(|e| self.error(e))?;
        file.commit()
    }
}

/// Where the file's bytes go.
enum Target {
    File(AtomicFile),
    Object(ObjectWriter),
}

impl Target {
    /// Puts the finished file in place.
    fn commit(self) -> Result<()> {
        match self {
            Target::File(file) => file.commit(),
            Target::Object(object) => object.commit(),
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File(file) => file.write(buf),
            Target::Object(object) => object.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::File(file) => file.flush(),
            Target::Object(object) => object.flush(),
        }
    }
}

/// Writes one id column's texts as values of its type.
fn write_id_column(
    writer: &mut ::parquet::file::writer::SerializedColumnWriter<'_>,
    column: &Type,
    texts: &[Vec<u8>],
) -> ::parquet::errors::Result<()> {
    let optional = column.get_basic_info().repetition() == Repetition::OPTIONAL;
    let bytes = column.get_physical_type() == PhysicalType::BYTE_ARRAY
        || column.get_physical_type() == PhysicalType::FIXED_LEN_BYTE_ARRAY;
    // An empty text is a null where the column may hold one and a value cannot be empty.
    let present = |t: &Vec<u8>| !(optional && !bytes && t.is_empty());
    let defs: Option<Vec<i16>> =
        optional.then(|| texts.iter().map(|t| i16::from(present(t))).collect());
    let values = texts.iter().filter(|t| present(t));
    let parse = |t: &Vec<u8>| String::from_utf8_lossy(t).into_owned();
    let bad = |t: &Vec<u8>| {
        ::parquet::errors::ParquetError::General(format!(
            "id {:?} of column {} does not read back as its type",
            String::from_utf8_lossy(t),
            column.name()
        ))
    };
    let defs = defs.as_deref();
    match column.get_physical_type() {
        PhysicalType::BOOLEAN => {
            let v: Vec<bool> = values.map(|t| t.as_slice() == b"true").collect();
            writer.typed::<BoolType>().write_batch(&v, defs, None)?;
        }
        PhysicalType::INT32 => {
            let v = values
                .map(|t| parse(t).parse::<i32>().map_err(|_| bad(t)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            writer.typed::<Int32Type>().write_batch(&v, defs, None)?;
        }
        PhysicalType::INT64 => {
            let v = values
                .map(|t| parse(t).parse::<i64>().map_err(|_| bad(t)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            writer.typed::<Int64Type>().write_batch(&v, defs, None)?;
        }
        PhysicalType::FLOAT => {
            let v = values
                .map(|t| parse(t).parse::<f32>().map_err(|_| bad(t)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            writer.typed::<FloatType>().write_batch(&v, defs, None)?;
        }
        PhysicalType::DOUBLE => {
            let v = values
                .map(|t| parse(t).parse::<f64>().map_err(|_| bad(t)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            writer.typed::<DoubleType>().write_batch(&v, defs, None)?;
        }
        PhysicalType::BYTE_ARRAY => {
            let v: Vec<ByteArray> = values.map(|t| ByteArray::from(t.clone())).collect();
            writer
                .typed::<ByteArrayType>()
                .write_batch(&v, defs, None)?;
        }
        PhysicalType::FIXED_LEN_BYTE_ARRAY => {
            let v: Vec<FixedLenByteArray> = values
                .map(|t| FixedLenByteArray::from(ByteArray::from(t.clone())))
                .collect();
            writer
                .typed::<FixedLenByteArrayType>()
                .write_batch(&v, defs, None)?;
        }
        PhysicalType::INT96 => {
            return Err(::parquet::errors::ParquetError::General(
                "INT96 id columns are not supported".into(),
            ))
        }
    }
    Ok(())
}
