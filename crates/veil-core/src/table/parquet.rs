//! Parquet in and out, through Arrow record batches.
//!
//! Integer columns of any width (signed or unsigned up to `i64::MAX`) read as integer, `Float16/32/64`
//! as float, `Boolean` as boolean, `Utf8`/`LargeUtf8`/`Utf8View` as string; Arrow nulls are
//! missing values. Other Arrow types (dates, decimals, nested types) are refused with the
//! column's name and type. Written files use Snappy compression and nullable columns of
//! `Int64`, `Float64`, `Boolean` and `Utf8`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{Column, Table, Values};
use crate::error::{Error, Result};

pub(super) fn read(path: &Path) -> Result<Table> {
    let source = path.display().to_string();
    let fail = |message: String| Error::Parquet {
        file: source.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(e.to_string()))?;
    let schema = builder.schema().clone();
    let mut columns: Vec<Values> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        columns.push(empty_values(field).map_err(fail)?);
    }
    for batch in builder.build().map_err(|e| fail(e.to_string()))? {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        for (values, (array, field)) in columns
            .iter_mut()
            .zip(batch.columns().iter().zip(schema.fields()))
        {
            append(values, array.as_ref(), field.name()).map_err(fail)?;
        }
    }
    let columns = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(f, v)| Column::new(f.name().clone(), v))
        .collect();
    Table::new(source, columns)
}

fn empty_values(field: &Field) -> std::result::Result<Values, String> {
    Ok(match field.data_type() {
        ArrowType::Int8
        | ArrowType::Int16
        | ArrowType::Int32
        | ArrowType::Int64
        | ArrowType::UInt8
        | ArrowType::UInt16
        | ArrowType::UInt32
        | ArrowType::UInt64 => Values::Integer(Vec::new()),
        ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => Values::Float(Vec::new()),
        ArrowType::Boolean => Values::Boolean(Vec::new()),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => Values::String(Vec::new()),
        other => {
            return Err(format!(
                "column \"{}\" has type {other}, which Veil does not read; \
                 supported: integers, floats, booleans, strings",
                field.name()
            ));
        }
    })
}

fn cells<'a, T>(
    array: &'a dyn Array,
    get: impl Fn(usize) -> T + 'a,
) -> impl Iterator<Item = Option<T>> + 'a {
    (0..array.len()).map(move |i| (!array.is_null(i)).then(|| get(i)))
}

fn append(values: &mut Values, array: &dyn Array, name: &str) -> std::result::Result<(), String> {
    macro_rules! ints {
        ($v:expr, $t:ty) => {{
            let a = array.as_primitive::<$t>();
            $v.extend(cells(array, |i| i64::from(a.value(i))));
        }};
    }
    match (values, array.data_type()) {
        (Values::Integer(v), ArrowType::Int8) => ints!(v, Int8Type),
        (Values::Integer(v), ArrowType::Int16) => ints!(v, Int16Type),
        (Values::Integer(v), ArrowType::Int32) => ints!(v, Int32Type),
        (Values::Integer(v), ArrowType::Int64) => ints!(v, Int64Type),
        (Values::Integer(v), ArrowType::UInt8) => ints!(v, UInt8Type),
        (Values::Integer(v), ArrowType::UInt16) => ints!(v, UInt16Type),
        (Values::Integer(v), ArrowType::UInt32) => ints!(v, UInt32Type),
        (Values::Integer(v), ArrowType::UInt64) => {
            let a = array.as_primitive::<UInt64Type>();
            for (i, cell) in cells(array, |i| a.value(i)).enumerate() {
                v.push(match cell {
                    None => None,
                    Some(x) => Some(i64::try_from(x).map_err(|_| {
                        format!("column \"{name}\", row {}: {x} does not fit in a 64-bit signed integer", i + 1)
                    })?),
                });
            }
        }
        (Values::Float(v), ArrowType::Float16) => {
            let a = array.as_primitive::<Float16Type>();
            v.extend(cells(array, |i| f64::from(a.value(i))));
        }
        (Values::Float(v), ArrowType::Float32) => {
            let a = array.as_primitive::<Float32Type>();
            v.extend(cells(array, |i| f64::from(a.value(i))));
        }
        (Values::Float(v), ArrowType::Float64) => {
            let a = array.as_primitive::<Float64Type>();
            v.extend(cells(array, |i| a.value(i)));
        }
        (Values::Boolean(v), ArrowType::Boolean) => {
            let a = array.as_boolean();
            v.extend(cells(array, |i| a.value(i)));
        }
        (Values::String(v), ArrowType::Utf8) => {
            let a = array.as_string::<i32>();
            v.extend(cells(array, |i| a.value(i).to_string()));
        }
        (Values::String(v), ArrowType::LargeUtf8) => {
            let a = array.as_string::<i64>();
            v.extend(cells(array, |i| a.value(i).to_string()));
        }
        (Values::String(v), ArrowType::Utf8View) => {
            let a = array.as_string_view();
            v.extend(cells(array, |i| a.value(i).to_string()));
        }
        (_, other) => {
            return Err(format!(
                "column \"{name}\" changed type to {other} mid-file"
            ));
        }
    }
    Ok(())
}

pub(super) fn write(table: &Table, path: &Path, out: &mut BufWriter<File>) -> Result<()> {
    let dest = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Error::Parquet {
        file: dest.clone(),
        message: e.to_string(),
    };
    let mut fields = Vec::with_capacity(table.columns().len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(table.columns().len());
    for col in table.columns() {
        let (ty, array): (ArrowType, ArrayRef) = match col.values() {
            Values::Integer(v) => (ArrowType::Int64, Arc::new(Int64Array::from(v.clone()))),
            Values::Float(v) => (ArrowType::Float64, Arc::new(Float64Array::from(v.clone()))),
            Values::Boolean(v) => (ArrowType::Boolean, Arc::new(BooleanArray::from(v.clone()))),
            Values::String(v) => (
                ArrowType::Utf8,
                Arc::new(StringArray::from_iter(v.iter().map(|s| s.as_deref()))),
            ),
        };
        fields.push(Field::new(col.name(), ty, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| fail(&e))?
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(out, schema, Some(props)).map_err(|e| fail(&e))?;
    writer.write(&batch).map_err(|e| fail(&e))?;
    writer.close().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Role;

    #[test]
    fn round_trip_keeps_types_and_missing_values() {
        let t = Table::from_csv_bytes(
            "p.csv",
            b"i,f,b,s\n1,0.5,true,x\n,,,\n-7,1e300,false,\"a,b\"\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        t.save(&path).unwrap();
        let back = Table::load(path.to_str().unwrap()).unwrap();
        assert_eq!(back.columns(), t.columns());
        assert_eq!(back.row_ref(1), crate::error::RowRef::Row(2));
        assert_eq!(
            back.column("s", Role::Column).unwrap().data_type(),
            super::super::DataType::String
        );
    }

    #[test]
    fn not_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        std::fs::write(&path, b"PAR1 this is not really parquet").unwrap();
        let err = Table::load(path.to_str().unwrap()).unwrap_err();
        assert!(matches!(err, Error::Parquet { .. }), "{err}");
        assert!(err.to_string().contains("bad.parquet"));
    }
}
