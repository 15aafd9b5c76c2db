//! CSV in and out (RFC 4180).
//!
//! * The first record is the header; it is required and names every column.
//! * Fields may be quoted; quoted fields may hold commas, doubled quotes and line breaks.
//! * Lines may end in LF or CRLF. A UTF-8 byte-order mark before the header is ignored.
//! * An empty (or all-blank) cell is a missing value.
//! * Gzip-compressed input (`.csv.gz`) is recognised by its magic bytes, whatever its name.
//!
//! Column types are inferred from the non-missing cells: all integers → integer, all numbers →
//! float (`NaN` and `inf` parse, and are rejected later if used as features), all `true` /
//! `false` → boolean, anything else (or nothing at all: an empty column) → string. Integers written with a leading zero (`02139`)
//! keep the column as text so that identifiers such as postcodes survive a round trip unchanged;
//! such a column can still be used as a numeric feature.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{Column, Table, Values, check_names};
use crate::error::{Error, Result, RowRef};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a CSV file, decompressing it if it is gzip.
pub(super) fn read_path(path: &Path) -> Result<Table> {
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let gz = {
        let head = std::io::BufRead::fill_buf(&mut reader).map_err(|e| Error::io(path, e))?;
        head.starts_with(&GZIP_MAGIC)
    };
    if gz {
        read(&source, BufReader::new(MultiGzDecoder::new(reader)))
    } else {
        read(&source, reader)
    }
}

/// Reads CSV text held in memory, decompressing it if it is gzip.
pub(super) fn read_bytes(source: &str, bytes: &[u8]) -> Result<Table> {
    if bytes.starts_with(&GZIP_MAGIC) {
        read(source, BufReader::new(MultiGzDecoder::new(bytes)))
    } else {
        read(source, bytes)
    }
}

/// One column's raw cells, kept as text until the whole column has been seen.
#[derive(Default)]
struct RawColumn {
    text: String,
    ends: Vec<usize>,
}

impl RawColumn {
    fn cells(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let cell = &self.text[start..end];
            start = end;
            cell
        })
    }
}

/// A reader that remembers where the line feeds are, so that a record's byte offset can be
/// turned into a physical line number.
///
/// The `csv` crate's own line counter is off after CRLF line ends, and its byte offset of a
/// record that follows a CRLF points at the LF. Counting the line feeds at or before the offset
/// gives the right line in both cases (a record never starts with a line feed).
struct LineIndex<R> {
    inner: R,
    offset: u64,
    newlines: std::collections::VecDeque<u64>,
    passed: u64,
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                self.newlines.push_back(self.offset + i as u64);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> LineIndex<R> {
    /// The 1-based line of the record starting at byte `offset`. Offsets must not decrease
    /// between calls.
    fn line_of(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&p| p <= offset) {
            self.newlines.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

fn read<R: Read>(source: &str, input: R) -> Result<Table> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineIndex {
            inner: input,
            offset: 0,
            newlines: Default::default(),
            passed: 0,
        });
    let mut record = ::csv::ByteRecord::new();

    let more = reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(source, e, reader.get_mut()))?;
    if !more {
        return Err(Error::EmptyFile {
            file: source.to_string(),
        });
    }
    let names = header_names(source, &record)?;
    check_names(source, names.iter().map(String::as_str))?;

    let mut raw: Vec<RawColumn> = names.iter().map(|_| RawColumn::default()).collect();
    let mut lines = Vec::new();
    loop {
        let more = reader.read_byte_record(&mut record);
        if !more.map_err(|e| csv_error(source, e, reader.get_mut()))? {
            break;
        }
        let line = reader
            .get_mut()
            .line_of(record.position().map_or(0, |p| p.byte()));
        if record.len() != names.len() {
            return Err(Error::RaggedRow {
                file: source.to_string(),
                at: RowRef::Line(line),
                expected: names.len(),
                found: record.len(),
            });
        }
        for (col, field) in raw.iter_mut().zip(record.iter()) {
            let text = std::str::from_utf8(field).map_err(|_| Error::Malformed {
                file: source.to_string(),
                at: RowRef::Line(line),
                message: "invalid UTF-8 (CSV input must be UTF-8)".to_string(),
            })?;
            col.text.push_str(text);
            col.ends.push(col.text.len());
        }
        lines.push(line);
    }

    let columns = names
        .into_iter()
        .zip(raw)
        .map(|(name, raw)| Column::new(name, infer(&raw)))
        .collect();
    Ok(Table::new(source, columns)?.with_lines(lines))
}

fn header_names(source: &str, record: &::csv::ByteRecord) -> Result<Vec<String>> {
    record
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let field = if i == 0 {
                field.strip_prefix(UTF8_BOM).unwrap_or(field)
            } else {
                field
            };
            std::str::from_utf8(field)
                .map(|s| s.trim().to_string())
                .map_err(|_| Error::BadHeader {
                    file: source.to_string(),
                    message: format!("column {} has a name that is not valid UTF-8", i + 1),
                })
        })
        .collect()
}

fn csv_error<R>(source: &str, err: ::csv::Error, index: &mut LineIndex<R>) -> Error {
    let at = RowRef::Line(index.line_of(err.position().map_or(0, |p| p.byte())));
    match err.into_kind() {
        ::csv::ErrorKind::Io(e) => Error::io(source, e),
        other => Error::Malformed {
            file: source.to_string(),
            at,
            message: format!("{other:?}"),
        },
    }
}

fn is_missing(cell: &str) -> bool {
    cell.trim().is_empty()
}

/// Parses an integer as written in a CSV cell. A leading zero (`007`) is not an integer here:
/// it is kept as text so that identifiers round-trip unchanged.
fn parse_int(cell: &str) -> Option<i64> {
    let t = cell.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    t.parse().ok()
}

/// Parses a number as written in a CSV cell (decimal or scientific; `NaN`, `inf` accepted).
pub(super) fn parse_float(cell: &str) -> Option<f64> {
    cell.trim().parse().ok()
}

fn parse_bool(cell: &str) -> Option<bool> {
    let t = cell.trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_all<T>(raw: &RawColumn, parse: impl Fn(&str) -> Option<T>) -> Option<Vec<Option<T>>> {
    raw.cells()
        .map(|cell| {
            if is_missing(cell) {
                Some(None)
            } else {
                parse(cell).map(Some)
            }
        })
        .collect()
}

/// Chooses the narrowest type that holds every non-missing cell.
fn infer(raw: &RawColumn) -> Values {
    if raw.cells().all(is_missing) {
        // Nothing to infer from: text is the type that claims least.
        return Values::String(vec![None; raw.ends.len()]);
    }
    if let Some(v) = parse_all(raw, parse_int) {
        return Values::Integer(v);
    }
    let no_leading_zero_ints = raw.cells().all(|c| {
        let t = c.trim();
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        !(digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()))
    });
    if no_leading_zero_ints && let Some(v) = parse_all(raw, parse_float) {
        return Values::Float(v);
    }
    if let Some(v) = parse_all(raw, parse_bool) {
        return Values::Boolean(v);
    }
    Values::String(
        raw.cells()
            .map(|c| (!is_missing(c)).then(|| c.to_string()))
            .collect(),
    )
}

/// Writes `table` as CSV to `path`, atomically, gzip-compressed if `gzip`.
pub(super) fn write_path<W: Write>(table: &Table, path: &Path, gzip: bool, out: W) -> Result<()> {
    let dest = path.display().to_string();
    if gzip {
        let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        write(table, &mut gz, &dest)?;
        gz.try_finish().map_err(|e| Error::io(path, e))
    } else {
        write(table, out, &dest)
    }
}

/// Writes `table` as CSV. Floats use the shortest text that reads back to the same value.
pub(super) fn write<W: Write>(table: &Table, out: W, dest: &str) -> Result<()> {
    let mut writer = ::csv::WriterBuilder::new().from_writer(out);
    let io = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(e) => Error::io(dest, e),
        other => Error::invalid("CSV output", format!("{other:?}")),
    };
    writer.write_record(table.column_names()).map_err(io)?;
    let mut row: Vec<String> = Vec::with_capacity(table.columns.len());
    for i in 0..table.num_rows() {
        row.clear();
        for col in &table.columns {
            row.push(match col.values() {
                Values::Integer(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                Values::Float(v) => v[i].map(format_float).unwrap_or_default(),
                Values::Boolean(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
                Values::String(v) => v[i].clone().unwrap_or_default(),
            });
        }
        writer.write_record(&row).map_err(io)?;
    }
    writer.flush().map_err(|e| Error::io(dest, e))?;
    Ok(())
}

/// Formats a float so that it reads back as a float (never as an integer) with the same value.
fn format_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Role;

    fn table(text: &str) -> Table {
        read_bytes("t.csv", text.as_bytes()).expect("valid CSV")
    }

    #[test]
    fn infers_types_and_missing_values() {
        let t = table("a,b,c,d\n1,1.5,true,x\n,2,FALSE,\n3,,true,z\n");
        assert_eq!(
            t.column("a", Role::Column).unwrap().values(),
            &Values::Integer(vec![Some(1), None, Some(3)])
        );
        assert_eq!(
            t.column("b", Role::Column).unwrap().values(),
            &Values::Float(vec![Some(1.5), Some(2.0), None])
        );
        assert_eq!(
            t.column("c", Role::Column).unwrap().values(),
            &Values::Boolean(vec![Some(true), Some(false), Some(true)])
        );
        assert_eq!(
            t.column("d", Role::Column).unwrap().values(),
            &Values::String(vec![Some("x".into()), None, Some("z".into())])
        );
    }

    #[test]
    fn quoting_embedded_commas_newlines_and_crlf() {
        let t = table(
            "name,note,n\r\n\"Doe, Jane\",\"said \"\"hi\"\"\r\nthen left\",1\r\nBob,plain,2\r\n",
        );
        assert_eq!(t.num_rows(), 2);
        assert_eq!(
            t.column("name", Role::Column).unwrap().values(),
            &Values::String(vec![Some("Doe, Jane".into()), Some("Bob".into())])
        );
        assert_eq!(
            t.column("note", Role::Column).unwrap().values(),
            &Values::String(vec![
                Some("said \"hi\"\r\nthen left".into()),
                Some("plain".into())
            ])
        );
        // The first record starts on line 2; the second on line 4 because the first spans two.
        assert_eq!(t.row_ref(0), RowRef::Line(2));
        assert_eq!(t.row_ref(1), RowRef::Line(4));
    }

    #[test]
    fn lines_are_physical_with_lf_crlf_and_blank_lines() {
        for text in [
            "a,b\n1,2\n3,4\n5\n",
            "a,b\r\n1,2\r\n3,4\r\n5\r\n",
            "a,b\n1,2\n\n3,4\n5\n",
        ] {
            let err = read_bytes("l.csv", text.as_bytes()).unwrap_err();
            let want = if text.contains("\n\n") { 5 } else { 4 };
            assert!(
                matches!(err, Error::RaggedRow { at: RowRef::Line(l), .. } if l == want),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let t = table("\u{feff}x,y\n1,2\n");
        assert_eq!(t.column_names().collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn leading_zeros_keep_text() {
        let t = table("zip\n02139\n10001\n");
        assert_eq!(
            t.column("zip", Role::Column).unwrap().values(),
            &Values::String(vec![Some("02139".into()), Some("10001".into())])
        );
    }

    #[test]
    fn ragged_row_names_its_line() {
        let err = read_bytes("r.csv", b"a,b\n1,2\n3\n").unwrap_err();
        assert!(matches!(
            err,
            Error::RaggedRow {
                at: RowRef::Line(3),
                expected: 2,
                found: 1,
                ..
            }
        ));
        assert!(err.to_string().contains("r.csv: line 3"), "{err}");
    }

    #[test]
    fn empty_file_and_bad_header() {
        assert!(matches!(
            read_bytes("e.csv", b""),
            Err(Error::EmptyFile { .. })
        ));
        assert!(matches!(
            read_bytes("h.csv", b"a,a\n1,2\n"),
            Err(Error::BadHeader { .. })
        ));
        assert!(matches!(
            read_bytes("h.csv", b"a,\n1,2\n"),
            Err(Error::BadHeader { .. })
        ));
    }

    #[test]
    fn header_only_is_an_empty_table() {
        let t = table("a,b\n");
        assert_eq!(t.num_rows(), 0);
        assert!(matches!(t.require_rows(), Err(Error::NoRows { .. })));
    }

    #[test]
    fn invalid_utf8_is_reported_with_line() {
        let err = read_bytes("u.csv", b"a\n1\n\xff\n").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Malformed {
                    at: RowRef::Line(3),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn gzip_is_detected_by_content() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a,b\n1,x\n").unwrap();
        let bytes = gz.finish().unwrap();
        let t = read_bytes("data.bin", &bytes).unwrap();
        assert_eq!(t.num_rows(), 1);
    }

    #[test]
    fn gzip_output_by_extension() {
        let t = table("a,b\n1,x\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv.gz");
        t.save(&path).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(&GZIP_MAGIC));
        assert_eq!(
            Table::load(path.to_str().unwrap()).unwrap().columns(),
            t.columns()
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let t = table("s,i,f,b\n\"a,\"\"b\"\"\n c\",1,2.0,true\n,,,\nz,-3,1e-300,false\n");
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        let back = read_bytes("t.csv", &out).unwrap();
        assert_eq!(back.columns(), t.columns());
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips(
            cells in proptest::collection::vec(
                (proptest::option::of("s[a-z ,\"\r\n]{0,12}"), proptest::option::of(-1_000_000i64..1_000_000)),
                0..20,
            )
        ) {
            let strings: Vec<Option<String>> = cells.iter().map(|c| c.0.clone()).collect();
            let ints: Vec<Option<i64>> = cells.iter().map(|c| c.1).collect();
            let t = Table::new("p", vec![
                Column::new("s", Values::String(strings)),
                Column::new("i", Values::Integer(ints)),
            ]).unwrap();
            let mut out = Vec::new();
            t.write_csv(&mut out).unwrap();
            let back = read_bytes("p.csv", &out).unwrap();
            proptest::prop_assert_eq!(back.num_rows(), t.num_rows());
            proptest::prop_assert_eq!(back.columns()[0].values(), t.columns()[0].values());
            // An all-missing column reads back as strings; otherwise as the same integers.
            if t.columns()[1].values() != &Values::Integer(vec![None; t.num_rows()]) {
                proptest::prop_assert_eq!(back.columns()[1].values(), t.columns()[1].values());
            }
        }
    }
}
