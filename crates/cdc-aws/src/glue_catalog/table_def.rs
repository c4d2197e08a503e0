//! Glue table and partition definitions for Parquet folders, and the Hive
//! type names Glue stores.
//!
//! A table is what Glue's crawler writes for Parquet, and what Athena and
//! Redshift Spectrum expect: `EXTERNAL_TABLE`, Hive's Parquet SerDe and
//! input/output formats, `classification = parquet`. A partition repeats
//! the table's storage descriptor with its own location, as Hive does.
//!
//! Spectrum reads a Parquet column only as the type it was written as
//! (an INT32 column declared `bigint` fails the scan), so a raw table's
//! column takes the config's type only when that type reads the file's as
//! it is ([`hive_reads`]), and the file's own type otherwise; widening to the
//! target's type happens in the load's SQL.
//!
//! Text is always `string`, never the config's `varchar(n)`: Spectrum
//! counts a VARCHAR's width in bytes and, by default, sets a longer value to
//! NULL without an error (`surplus_char_handling`), so `varchar(84)` would
//! lose 84 characters of multibyte UTF-8. The load checks lengths in
//! characters itself; the table property [`SURPLUS_CHAR_HANDLING`] set to
//! `FAIL` makes anything still too long for Spectrum fail loudly
//! (docs/redshift.md).

use std::collections::HashMap;

use aws_sdk_glue::types::{Column, PartitionInput, SerDeInfo, StorageDescriptor, TableInput};
use cdc_core::ports::FileColumnType;
use cdc_core::{ColumnType, PipelineError};

pub const TABLE_TYPE: &str = "EXTERNAL_TABLE";
pub const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
pub const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// Spectrum's table property for values longer than their column (Redshift
/// CREATE EXTERNAL TABLE, TABLE PROPERTIES; case-sensitive).
pub const SURPLUS_CHAR_HANDLING: &str = "surplus_char_handling";
/// Fail the query rather than null or truncate the value.
pub const SURPLUS_CHAR_HANDLING_FAIL: &str = "FAIL";

/// The data-handling properties of a raw table. Where Spectrum reads them
/// from a Glue table is not documented: AWS CDK writes Redshift's TABLE
/// PROPERTIES into the storage descriptor's parameters, so they go there
/// and into the table's parameters.
pub fn data_handling_parameters() -> HashMap<String, String> {
    HashMap::from([(SURPLUS_CHAR_HANDLING.to_string(), SURPLUS_CHAR_HANDLING_FAIL.to_string())])
}

/// Whether a table fails on over-long text (see [`data_handling_parameters`]).
pub fn fails_on_surplus_chars(table: &aws_sdk_glue::types::Table) -> bool {
    let is_fail = |p: Option<&HashMap<String, String>>| {
        p.and_then(|p| p.get(SURPLUS_CHAR_HANDLING)).is_some_and(|v| v == SURPLUS_CHAR_HANDLING_FAIL)
    };
    is_fail(table.parameters()) || is_fail(table.storage_descriptor().and_then(|sd| sd.parameters()))
}

/// A column as Glue stores it: lower-case name, Hive type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueColumn {
    pub name: String,
    pub ty: String,
}

impl GlueColumn {
    pub fn new(name: &str, ty: impl Into<String>) -> Self {
        Self { name: name.to_ascii_lowercase(), ty: ty.into() }
    }
}

/// The Hive type of a configured column.
pub fn hive_type(ty: ColumnType) -> String {
    match ty {
        ColumnType::SmallInt => "smallint".into(),
        ColumnType::Integer => "int".into(),
        ColumnType::BigInt => "bigint".into(),
        ColumnType::Real => "float".into(),
        ColumnType::Double => "double".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Timestamp => "timestamp".into(),
        // See the module doc: widths would null multibyte text.
        ColumnType::Varchar(_) | ColumnType::Char(_) => "string".into(),
        ColumnType::Numeric(p, s) => format!("decimal({p},{s})"),
    }
}

/// The Hive type a Parquet column is read as; `None` for types without one.
pub fn file_hive_type(ty: &FileColumnType) -> Option<String> {
    let name = match ty {
        FileColumnType::Int16 => "smallint",
        FileColumnType::Int32 => "int",
        FileColumnType::Int64 => "bigint",
        FileColumnType::Float32 => "float",
        FileColumnType::Float64 => "double",
        FileColumnType::Boolean => "boolean",
        FileColumnType::Date => "date",
        FileColumnType::Timestamp => "timestamp",
        FileColumnType::String => "string",
        FileColumnType::Decimal(p, s) => return Some(format!("decimal({p},{s})")),
        FileColumnType::Other(_) => return None,
    };
    Some(name.into())
}

/// Whether a column declared `hive` reads a Parquet column of type `file`
/// as it is. Types this crate cannot judge (`Other`) pass.
pub fn hive_reads(hive: &str, file: &FileColumnType) -> bool {
    let hive: String = hive.to_ascii_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
    let h = hive.as_str();
    match file {
        FileColumnType::String => h == "string" || h.starts_with("varchar(") || h.starts_with("char("),
        FileColumnType::Int16 => h == "smallint" || h == "tinyint",
        FileColumnType::Int32 => h == "int" || h == "integer",
        FileColumnType::Int64 => h == "bigint",
        FileColumnType::Float32 => h == "float",
        FileColumnType::Float64 => h == "double",
        FileColumnType::Boolean => h == "boolean",
        FileColumnType::Date => h == "date",
        FileColumnType::Timestamp => h == "timestamp",
        FileColumnType::Decimal(p, s) => h == format!("decimal({p},{s})"),
        FileColumnType::Other(_) => true,
    }
}

fn build_err(what: &str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::config(format!("building the Glue {what}: {e}"))
}

fn glue_columns(columns: &[GlueColumn]) -> Result<Vec<Column>, PipelineError> {
    columns
        .iter()
        .map(|c| Column::builder().name(&c.name).r#type(&c.ty).build().map_err(|e| build_err("column", e)))
        .collect()
}

/// A Parquet folder's storage descriptor.
pub fn storage(columns: &[GlueColumn], location: &str) -> Result<StorageDescriptor, PipelineError> {
    Ok(StorageDescriptor::builder()
        .set_columns(Some(glue_columns(columns)?))
        .location(location)
        .input_format(INPUT_FORMAT)
        .output_format(OUTPUT_FORMAT)
        .compressed(false)
        .number_of_buckets(-1)
        .stored_as_sub_directories(false)
        .serde_info(SerDeInfo::builder().serialization_library(SERDE).parameters("serialization.format", "1").build())
        .set_parameters(Some(data_handling_parameters()))
        .build())
}

/// An external Parquet table; `partition_key` names its one string partition key.
pub fn table_input(
    name: &str,
    columns: &[GlueColumn],
    location: &str,
    partition_key: Option<&str>,
    description: &str,
) -> Result<TableInput, PipelineError> {
    let keys = partition_key.map(|k| glue_columns(&[GlueColumn::new(k, "string")])).transpose()?;
    TableInput::builder()
        .name(name)
        .description(description)
        .table_type(TABLE_TYPE)
        .set_parameters(Some(
            [("classification".to_string(), "parquet".to_string()), ("EXTERNAL".to_string(), "TRUE".to_string())]
                .into_iter()
                .chain(data_handling_parameters())
                .collect(),
        ))
        .storage_descriptor(storage(columns, location)?)
        .set_partition_keys(Some(keys.unwrap_or_default()))
        .build()
        .map_err(|e| build_err(&format!("table {name}"), e))
}

/// One partition: the table's columns, its own location and parameters.
pub fn partition_input(
    value: &str,
    columns: &[GlueColumn],
    location: &str,
    parameters: HashMap<String, String>,
) -> Result<PartitionInput, PipelineError> {
    Ok(PartitionInput::builder()
        .values(value)
        .storage_descriptor(storage(columns, location)?)
        .set_parameters(Some(parameters))
        .build())
}

/// A Glue table's columns, as [`GlueColumn`]s.
pub fn columns_of(table: &aws_sdk_glue::types::Table) -> Vec<GlueColumn> {
    let columns = table.storage_descriptor().map(|sd| sd.columns()).unwrap_or_default();
    columns.iter().map(|c| GlueColumn::new(c.name(), c.r#type().unwrap_or_default())).collect()
}

/// A Glue table's partition key names, lower-case.
pub fn partition_keys_of(table: &aws_sdk_glue::types::Table) -> Vec<String> {
    table.partition_keys().iter().map(|k| k.name().to_ascii_lowercase()).collect()
}

/// A location with exactly one trailing slash, for comparisons.
pub fn folder(location: &str) -> String {
    format!("{}/", location.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_types_have_hive_names() {
        let cases = [
            ("smallint", "smallint"),
            ("integer", "int"),
            ("bigint", "bigint"),
            ("real", "float"),
            ("double precision", "double"),
            ("boolean", "boolean"),
            ("date", "date"),
            ("timestamp", "timestamp"),
            ("text", "string"),
            ("varchar(84)", "string"),
            ("char(2)", "string"),
            ("numeric(12,2)", "decimal(12,2)"),
        ];
        for (config, hive) in cases {
            assert_eq!(hive_type(ColumnType::parse(config).unwrap()), hive, "{config}");
        }
    }

    #[test]
    fn a_hive_type_reads_only_the_parquet_type_of_its_width() {
        use FileColumnType as F;
        assert!(hive_reads("int", &F::Int32) && hive_reads("INT", &F::Int32));
        assert!(!hive_reads("bigint", &F::Int32) && !hive_reads("int", &F::Int64));
        assert!(hive_reads("varchar(84)", &F::String) && hive_reads("string", &F::String));
        assert!(hive_reads("decimal(12, 2)", &F::Decimal(12, 2)) && !hive_reads("decimal(14,2)", &F::Decimal(12, 2)));
        assert!(!hive_reads("string", &F::Timestamp));
        assert!(hive_reads("binary", &F::Other("BYTE_ARRAY/-".into())));
        // AND every file type's own Hive type reads it
        for f in [F::Int16, F::Int32, F::Int64, F::Float32, F::Float64, F::Boolean, F::Date, F::Timestamp, F::String] {
            assert!(hive_reads(&file_hive_type(&f).unwrap(), &f), "{f:?}");
        }
        assert_eq!(file_hive_type(&F::Other("INT32/TIME_MILLIS".into())), None);
    }

    #[test]
    fn a_table_input_is_an_external_parquet_table() {
        let cols = [GlueColumn::new("Op", "string"), GlueColumn::new("aid", "int")];
        let t = table_input("raw_cdc_x", &cols, "s3://b/cdc/public/x/", Some("partition_0"), "d").unwrap();
        assert_eq!(t.table_type(), Some(TABLE_TYPE));
        let sd = t.storage_descriptor().unwrap();
        assert_eq!(sd.location(), Some("s3://b/cdc/public/x/"));
        assert_eq!(sd.serde_info().unwrap().serialization_library(), Some(SERDE));
        assert_eq!((sd.input_format(), sd.output_format()), (Some(INPUT_FORMAT), Some(OUTPUT_FORMAT)));
        assert_eq!(sd.columns()[0].name(), "op");
        assert_eq!(t.partition_keys()[0].name(), "partition_0");
        assert_eq!(t.parameters().unwrap()["classification"], "parquet");
        // AND over-long text fails the scan instead of becoming NULL, wherever Spectrum reads the property
        assert_eq!(t.parameters().unwrap()[SURPLUS_CHAR_HANDLING], "FAIL");
        assert_eq!(sd.parameters().unwrap()[SURPLUS_CHAR_HANDLING], "FAIL");
        assert_eq!(folder("s3://b/x"), folder("s3://b/x//"));
    }
}
