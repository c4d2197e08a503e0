//! The column schema of a Parquet file from its footer, without a Parquet
//! library.
//!
//! A Parquet file ends with `<FileMetaData><u32 length LE>PAR1`; the
//! metadata is a Thrift struct in the compact protocol whose field 2 is the
//! schema, a flat list of `SchemaElement`s. Only that list is decoded:
//! everything else (row groups, statistics, key-value metadata) is skipped
//! field by field without being built, and decoding stops once the schema
//! is read.
//!
//! Why not the `parquet` crate: it is some 130k lines for what is a page of
//! Thrift here, and it normalises the schema while reading it (it fills a
//! converted type in from the logical type, rejects combinations other
//! readers accept), whereas the local adapter types columns from the raw
//! footer fields as DuckDB's `parquet_schema` reports them. Decoding the raw
//! fields here and mapping them with the local adapter's rules
//! ([`column_type`]) gives both adapters the same answer for the same file.
//!
//! The input is untrusted: every length is checked against the bytes left
//! before anything is read or allocated, and nesting is bounded.

use cdc_core::ports::{FileColumn, FileColumnType};

/// The last 4 bytes of a Parquet file (and its first 4).
pub const MAGIC: &[u8; 4] = b"PAR1";
/// The magic of a file whose footer is encrypted (Parquet modular encryption).
pub const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";
/// Bytes after the footer: its length (u32, little-endian) and the magic.
pub const TRAILER_LEN: usize = 8;
/// Header magic + footer length + trailing magic: no Parquet file is smaller.
pub const MIN_FILE_LEN: u64 = 12;

/// Nesting deeper than this is not a Parquet footer (the real one nests a few levels).
const MAX_DEPTH: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FooterError {
    #[error("it does not end with the Parquet magic PAR1")]
    NotParquet,
    #[error("its footer is encrypted (PARE), which this reader does not support")]
    Encrypted,
    #[error("its footer length {footer} does not fit in a file of {file} bytes")]
    BadLength { footer: u64, file: u64 },
    #[error("its footer is corrupt: {0}")]
    Corrupt(String),
}

fn corrupt(what: impl Into<String>) -> FooterError {
    FooterError::Corrupt(what.into())
}

/// The footer's length from the file's last 8 bytes (`tail` may be longer),
/// checked against the file's size.
pub fn footer_len(tail: &[u8], file_len: u64) -> Result<usize, FooterError> {
    let Some(trailer) = tail.len().checked_sub(TRAILER_LEN).map(|at| &tail[at..]) else {
        return Err(FooterError::NotParquet);
    };
    match &trailer[4..] {
        m if m == MAGIC => {}
        m if m == ENCRYPTED_MAGIC => return Err(FooterError::Encrypted),
        _ => return Err(FooterError::NotParquet),
    }
    let len = u64::from(u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]));
    // The header magic, the footer and the trailer must all fit.
    if len == 0 || len + TRAILER_LEN as u64 + 4 > file_len {
        return Err(FooterError::BadLength { footer: len, file: file_len });
    }
    usize::try_from(len).map_err(|_| FooterError::BadLength { footer: len, file: file_len })
}

/// One schema element, with the raw fields the column type is decided from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaElement {
    pub name: String,
    /// Physical type (`Type` enum); absent on group nodes.
    pub physical: Option<i32>,
    pub converted: Option<i32>,
    pub scale: Option<i32>,
    pub precision: Option<i32>,
    /// The set member of the `LogicalType` union (its field id), if any.
    pub logical: Option<i16>,
}

/// The leaf columns of a footer (the `FileMetaData` bytes), in file order.
pub fn file_columns(footer: &[u8]) -> Result<Vec<FileColumn>, FooterError> {
    let elements = schema_elements(footer)?;
    Ok(elements
        .iter()
        .filter(|e| e.physical.is_some())
        .map(|e| FileColumn { name: e.name.clone(), ty: column_type(e) })
        .collect())
}

/// The schema list (field 2) of a `FileMetaData`.
pub fn schema_elements(footer: &[u8]) -> Result<Vec<SchemaElement>, FooterError> {
    let mut r = Reader { buf: footer, pos: 0 };
    let mut last = 0;
    while let Some((id, ty)) = r.field_header(&mut last)? {
        if id == 2 && ty == LIST {
            let (len, elem) = r.collection_header()?;
            if elem != STRUCT {
                return Err(corrupt(format!("schema list of type {elem}, not of structs")));
            }
            return (0..len).map(|_| r.schema_element()).collect();
        }
        r.skip(ty, 0)?;
    }
    Err(corrupt("no schema (FileMetaData field 2)"))
}

// Compact protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const I8: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, FooterError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| corrupt("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FooterError> {
        if n > self.remaining() {
            return Err(corrupt(format!("{n} bytes announced, {} left", self.remaining())));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, FooterError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, FooterError> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, FooterError> {
        let v = self.zigzag()?;
        i32::try_from(v).map_err(|_| corrupt(format!("i32 out of range: {v}")))
    }

    fn binary(&mut self) -> Result<&'a [u8], FooterError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| corrupt("binary length out of range"))?;
        self.take(len)
    }

    /// The next field's id and type, or `None` at the struct's end. `last`
    /// is the previous field's id in this struct (ids are sent as deltas).
    fn field_header(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, FooterError> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let (delta, ty) = (b >> 4, b & 0x0f);
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| corrupt("field id out of range"))?
        } else {
            last.checked_add(i16::from(delta)).ok_or_else(|| corrupt("field id out of range"))?
        };
        *last = id;
        Ok(Some((id, ty)))
    }

    /// A list's or set's element count and type.
    fn collection_header(&mut self) -> Result<(usize, u8), FooterError> {
        let b = self.byte()?;
        let (short, ty) = (b >> 4, b & 0x0f);
        let len = if short == 15 { self.varint()? } else { u64::from(short) };
        // Every element takes at least one byte: a longer count is a lie.
        let len = usize::try_from(len).ok().filter(|&n| n <= self.remaining());
        Ok((len.ok_or_else(|| corrupt("collection longer than the footer"))?, ty))
    }

    /// Skips one value of type `ty` (a field's: booleans carry no payload).
    fn skip(&mut self, ty: u8, depth: u32) -> Result<(), FooterError> {
        self.skip_value(ty, depth, false)
    }

    fn skip_value(&mut self, ty: u8, depth: u32, in_collection: bool) -> Result<(), FooterError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deeply"));
        }
        match ty {
            BOOL_TRUE | BOOL_FALSE if !in_collection => {}
            BOOL_TRUE | BOOL_FALSE | I8 => {
                self.byte()?;
            }
            I16 | I32 | I64 => {
                self.varint()?;
            }
            DOUBLE => {
                self.take(8)?;
            }
            UUID => {
                self.take(16)?;
            }
            BINARY => {
                self.binary()?;
            }
            LIST | SET => {
                let (len, elem) = self.collection_header()?;
                for _ in 0..len {
                    self.skip_value(elem, depth + 1, true)?;
                }
            }
            MAP => {
                let len = self.varint()?;
                if len > 0 {
                    let len = usize::try_from(len).ok().filter(|&n| n <= self.remaining());
                    let len = len.ok_or_else(|| corrupt("map longer than the footer"))?;
                    let kv = self.byte()?;
                    for _ in 0..len {
                        self.skip_value(kv >> 4, depth + 1, true)?;
                        self.skip_value(kv & 0x0f, depth + 1, true)?;
                    }
                }
            }
            STRUCT => {
                let mut last = 0;
                while let Some((_, t)) = self.field_header(&mut last)? {
                    self.skip_value(t, depth + 1, false)?;
                }
            }
            other => return Err(corrupt(format!("unknown compact type {other}"))),
        }
        Ok(())
    }

    fn schema_element(&mut self) -> Result<SchemaElement, FooterError> {
        let mut e = SchemaElement::default();
        let mut name = None;
        let mut last = 0;
        while let Some((id, ty)) = self.field_header(&mut last)? {
            match (id, ty) {
                (1, I32) => e.physical = Some(self.i32()?),
                (4, BINARY) => name = Some(String::from_utf8_lossy(self.binary()?).into_owned()),
                (6, I32) => e.converted = Some(self.i32()?),
                (7, I32) => e.scale = Some(self.i32()?),
                (8, I32) => e.precision = Some(self.i32()?),
                (10, STRUCT) => e.logical = self.union_member()?,
                // Unknown fields, and known ones of an unexpected type, are
                // skipped, as Thrift's generated readers do.
                (_, t) => self.skip(t, 1)?,
            }
        }
        e.name = name.ok_or_else(|| corrupt("a schema element without a name"))?;
        Ok(e)
    }

    /// The field id of the union's member that is set (the last one, should
    /// a writer send several).
    fn union_member(&mut self) -> Result<Option<i16>, FooterError> {
        let mut member = None;
        let mut last = 0;
        while let Some((id, ty)) = self.field_header(&mut last)? {
            self.skip(ty, 1)?;
            member = Some(id);
        }
        Ok(member)
    }
}

/// `Type` as DuckDB's `parquet_schema` prints it.
fn physical_name(v: i32) -> String {
    let name = match v {
        0 => "BOOLEAN",
        1 => "INT32",
        2 => "INT64",
        3 => "INT96",
        4 => "FLOAT",
        5 => "DOUBLE",
        6 => "BYTE_ARRAY",
        7 => "FIXED_LEN_BYTE_ARRAY",
        other => return other.to_string(),
    };
    name.to_string()
}

/// `ConvertedType` as DuckDB's `parquet_schema` prints it.
fn converted_name(v: i32) -> String {
    const NAMES: [&str; 22] = [
        "UTF8",
        "MAP",
        "MAP_KEY_VALUE",
        "LIST",
        "ENUM",
        "DECIMAL",
        "DATE",
        "TIME_MILLIS",
        "TIME_MICROS",
        "TIMESTAMP_MILLIS",
        "TIMESTAMP_MICROS",
        "UINT_8",
        "UINT_16",
        "UINT_32",
        "UINT_64",
        "INT_8",
        "INT_16",
        "INT_32",
        "INT_64",
        "JSON",
        "BSON",
        "INTERVAL",
    ];
    usize::try_from(v).ok().and_then(|i| NAMES.get(i)).map_or_else(|| v.to_string(), |n| (*n).to_string())
}

/// The start of DuckDB's `parquet_schema` text for a `LogicalType` member
/// (it prints nothing for members it does not know, such as VARIANT).
fn logical_name(member: i16) -> &'static str {
    match member {
        1 => "StringType",
        2 => "MapType",
        3 => "ListType",
        4 => "EnumType",
        5 => "DecimalType",
        6 => "DateType",
        7 => "TimeType",
        8 => "TimestampType",
        10 => "IntType",
        11 => "NullType",
        12 => "JsonType",
        13 => "BsonType",
        14 => "UUIDType",
        15 => "Float16Type",
        17 => "GeometryType",
        18 => "GeographyType",
        _ => "",
    }
}

/// A leaf's type, by the rules every raw zone adapter shares
/// ([`FileColumnType::from_parquet`]).
pub fn column_type(e: &SchemaElement) -> FileColumnType {
    let physical = e.physical.map(physical_name).unwrap_or_default();
    let converted = e.converted.map(converted_name);
    let logical = e.logical.map(logical_name);
    FileColumnType::from_parquet(
        &physical,
        converted.as_deref(),
        logical,
        e.precision.map(i64::from),
        e.scale.map(i64::from),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal compact-protocol writer for hand-made footers.
    #[derive(Default)]
    struct W(Vec<u8>);

    impl W {
        fn varint(&mut self, mut v: u64) -> &mut Self {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.0.push(b);
                    return self;
                }
                self.0.push(b | 0x80);
            }
        }
        fn field(&mut self, delta: u8, ty: u8) -> &mut Self {
            self.0.push(delta << 4 | ty);
            self
        }
        fn i32(&mut self, delta: u8, v: i32) -> &mut Self {
            self.field(delta, I32).varint(((v << 1) ^ (v >> 31)) as u32 as u64)
        }
        fn string(&mut self, delta: u8, s: &str) -> &mut Self {
            self.field(delta, BINARY).varint(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        fn stop(&mut self) -> &mut Self {
            self.0.push(0);
            self
        }
    }

    /// `FileMetaData { 1: version, 2: schema [root, leaves...], 3: num_rows }`, with
    /// extra fields before the schema to be skipped.
    fn footer(leaves: &[(&str, i32, Option<i32>, Option<i16>)]) -> Vec<u8> {
        let mut w = W::default();
        w.i32(1, 2);
        w.field(1, LIST);
        let n = leaves.len() + 1;
        if n < 15 {
            w.0.push((n as u8) << 4 | STRUCT);
        } else {
            w.0.push(0xf0 | STRUCT);
            w.varint(n as u64);
        }
        w.string(4, "schema").i32(1, leaves.len() as i32).stop();
        for (name, physical, converted, logical) in leaves {
            w.i32(1, *physical).i32(2, 1).string(1, name);
            if let Some(c) = converted {
                w.i32(2, *c);
            }
            if let Some(l) = logical {
                // field 10 (delta 4 from 6, or from 4 when no converted type)
                let delta = if converted.is_some() { 4 } else { 6 };
                w.field(delta, STRUCT).field(*l as u8, STRUCT).stop().stop();
            }
            w.stop();
        }
        w.field(1, I64).varint(84).stop();
        w.0
    }

    #[test]
    fn decodes_leaves_and_types_them_like_the_local_adapter() {
        // GIVEN a DMS CDC file's schema (types as DuckDB and DMS write them)
        let f = footer(&[
            ("Op", 6, Some(0), Some(1)),
            ("changets", 2, Some(10), Some(8)),
            ("ar_h_change_seq", 6, Some(0), Some(1)),
            ("aid", 1, None, None),
            ("tiny", 1, Some(15), Some(10)),
            ("ns", 2, None, Some(8)),
            ("day", 1, Some(6), Some(6)),
            ("legacy_ts", 3, None, None),
            ("time", 1, Some(7), Some(7)),
            ("blob", 6, None, None),
            ("u32", 1, Some(13), Some(10)),
        ]);
        let cols = file_columns(&f).unwrap();
        let got: Vec<(&str, FileColumnType)> = cols.iter().map(|c| (c.name.as_str(), c.ty.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("Op", FileColumnType::String),
                ("changets", FileColumnType::Timestamp),
                ("ar_h_change_seq", FileColumnType::String),
                ("aid", FileColumnType::Int32),
                ("tiny", FileColumnType::Int16),
                ("ns", FileColumnType::Timestamp),
                ("day", FileColumnType::Date),
                ("legacy_ts", FileColumnType::Timestamp),
                ("time", FileColumnType::Other("INT32/TIME_MILLIS".into())),
                ("blob", FileColumnType::Other("BYTE_ARRAY/-".into())),
                ("u32", FileColumnType::Other("INT32/UINT_32".into())),
            ]
        );
    }

    #[test]
    fn decimals_take_precision_and_scale_from_the_element() {
        let e = SchemaElement {
            name: "amount".into(),
            physical: Some(7),
            converted: Some(5),
            scale: Some(2),
            precision: Some(12),
            logical: Some(5),
        };
        assert_eq!(column_type(&e), FileColumnType::Decimal(12, 2));
        // AND without them, as the local adapter: 38 and 0
        let bare = SchemaElement { scale: None, precision: None, converted: None, ..e };
        assert_eq!(column_type(&bare), FileColumnType::Decimal(38, 0));
    }

    #[test]
    fn long_lists_and_unknown_fields_are_read_past() {
        // GIVEN 20 leaves (a long list header) and a footer whose leaves carry unknown fields
        let names: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let leaves: Vec<(&str, i32, Option<i32>, Option<i16>)> =
            names.iter().map(|n| (n.as_str(), 2, Some(18), Some(10))).collect();
        let cols = file_columns(&footer(&leaves)).unwrap();
        assert_eq!(cols.len(), 20);
        assert!(cols.iter().all(|c| c.ty == FileColumnType::Int64));

        // GIVEN FileMetaData { 2: [ {4: "x", 1: INT32 (explicit field id, after the name),
        //   9: field id, 20: map<binary, binary> (unknown), 21: true (unknown bool)} ] }
        let mut w = W::default();
        w.field(2, LIST);
        w.0.push(1 << 4 | STRUCT);
        w.string(4, "x");
        w.0.push(I32);
        w.varint(2).varint(2);
        w.i32(8, 7);
        w.field(11, MAP).varint(1);
        w.0.push(BINARY << 4 | BINARY);
        w.varint(1);
        w.0.push(b'k');
        w.varint(1);
        w.0.push(b'v');
        w.field(1, BOOL_TRUE).stop();
        // WHEN decoded THEN the element has its name and type
        let elements = schema_elements(&w.0).unwrap();
        assert_eq!(elements.len(), 1);
        assert_eq!(elements[0].name, "x");
        assert_eq!(elements[0].physical, Some(1));
    }

    #[test]
    fn garbage_and_lies_are_errors_not_panics() {
        let good = footer(&[("a", 1, None, None)]);
        // (its last 3 bytes, num_rows and the end, come after the schema and are not read)
        assert!(schema_elements(&good).is_ok());
        for cut in 0..good.len() - 3 {
            assert!(schema_elements(&good[..cut]).is_err(), "cut at {cut}");
        }
        // a list announcing more elements than there are bytes
        let mut w = W::default();
        w.field(2, LIST);
        w.0.push(0xf0 | STRUCT);
        w.varint(u64::MAX >> 1);
        assert!(matches!(schema_elements(&w.0), Err(FooterError::Corrupt(_))));
        // a string announcing more bytes than there are
        let mut w = W::default();
        w.field(6, BINARY).varint(1 << 40);
        assert!(matches!(schema_elements(&w.0), Err(FooterError::Corrupt(_))));
        // nesting without end
        let deep: Vec<u8> = std::iter::repeat_n(1 << 4 | STRUCT, 10_000).collect();
        assert!(matches!(schema_elements(&deep), Err(FooterError::Corrupt(_))));
        // random bytes
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = schema_elements(&bytes);
        }
    }

    #[test]
    fn the_trailer_gives_the_footer_length_or_says_why_not() {
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(&[0u8; 100]);
        file.extend_from_slice(&100u32.to_le_bytes());
        file.extend_from_slice(b"PAR1");
        assert_eq!(footer_len(&file, file.len() as u64), Ok(100));
        assert_eq!(footer_len(&file[file.len() - 8..], file.len() as u64), Ok(100));
        // a footer longer than the file
        assert!(matches!(footer_len(&file, 50), Err(FooterError::BadLength { footer: 100, file: 50 })));
        // not Parquet, encrypted, too short
        assert_eq!(footer_len(b"hello, world", 12), Err(FooterError::NotParquet));
        let n = file.len();
        file[n - 4..].copy_from_slice(b"PARE");
        assert_eq!(footer_len(&file, n as u64), Err(FooterError::Encrypted));
        assert_eq!(footer_len(b"PAR1", 4), Err(FooterError::NotParquet));
    }
}
