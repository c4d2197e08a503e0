//! Rule 10: Spectrum reads a Parquet column only as the type it was written
//! as. The emulator's views would otherwise cast whatever the file holds to
//! the Glue column's type (DuckDB casts text to numbers, INT32 to BIGINT,
//! DECIMAL(10,2) to DECIMAL(12,2)), hiding a Glue table that Redshift
//! cannot scan.

use super::Rule;

pub const RULE: Rule = Rule {
    name: "Parquet columns are read only as their own type",
    documented: "For columnar file formats such as Apache Parquet, the column type is embedded with the data. The \
                 column type in the CREATE EXTERNAL TABLE definition must match the column type of the data file. \
                 Mismatched column definitions result in a data incompatibility error (`File … has an incompatible \
                 Parquet schema for column …`); a DECIMAL's precision and scale must match too.",
    url: "https://repost.aws/knowledge-center/redshift-spectrum-data-errors",
    emulated: "Before a view over an external table is built, each file's column types (as DuckDB reads them) are \
               compared with the Glue columns': integers of another width, DECIMALs of another precision or scale, \
               text against numbers and the like fail the scan naming the file, the column and both types. \
               Timestamps of any unit are one type.",
};

/// Whether a Parquet column DuckDB reads as `file` can be read by a Glue
/// column whose DuckDB type is `glue`.
pub fn reads(glue: &str, file: &str) -> bool {
    let norm = |t: &str| t.trim().to_ascii_uppercase().replace(' ', "");
    let (glue, file) = (norm(glue), norm(file));
    let timestamp = |t: &str| t.starts_with("TIMESTAMP");
    glue == file || (timestamp(&glue) && timestamp(&file))
}

/// The scan error for a mismatched column, worded as Spectrum words it.
pub fn incompatible(uri: &str, table: &str, column: &str, glue: &str, file: &str) -> String {
    format!(
        "ERROR: Spectrum Scan Error: File '{uri}' has an incompatible Parquet schema for column '{table}.{column}'. \
         Column type: {glue}, Parquet schema: {file} ({})",
        RULE.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_written_type_reads() {
        assert!(reads("INTEGER", "INTEGER") && reads("DECIMAL(12,2)", "DECIMAL(12, 2)") && reads("VARCHAR", "VARCHAR"));
        assert!(reads("TIMESTAMP", "TIMESTAMP_NS") && reads("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"));
        assert!(
            !reads("BIGINT", "INTEGER")
                && !reads("DECIMAL(38,0)", "VARCHAR")
                && !reads("DECIMAL(14,2)", "DECIMAL(12,2)")
        );
        assert!(!reads("VARCHAR", "BLOB") && !reads("DOUBLE", "FLOAT"));
    }
}
