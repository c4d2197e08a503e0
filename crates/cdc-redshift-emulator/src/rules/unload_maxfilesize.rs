//! Rule 8: UNLOAD … FORMAT AS PARQUET rounds MAXFILESIZE down to a multiple
//! of 32 MB, and the size must be between 5 MB and 6.2 GB.

use super::Rule;

pub const RULE: Rule = Rule {
    name: "Parquet MAXFILESIZE rounds down to 32 MB",
    documented: "\"Specify a decimal value between 5 MB and 6.2 GB.\" \"The MAXFILESIZE value that you specify is \
                 automatically rounded down to the nearest multiple of 32 MB. For example, if you specify MAXFILESIZE \
                 200 MB, then each Parquet file unloaded is approximately 192 MB (32 MB row group x 6 = 192 MB).\" \
                 The docs are silent on a Parquet MAXFILESIZE below 32 MB, which rounds down to 0.",
    url: "https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html",
    emulated: "Sizes outside 5 MB–6.2 GB are refused; Parquet parts are split at the size rounded down to 32 MB; \
               below 32 MB (rounding to 0) the UNLOAD is refused, the stricter reading of a silent case.",
};

const MB: u64 = 1024 * 1024;
pub const ROW_GROUP: u64 = 32 * MB;
pub const MIN: u64 = 5 * MB;
/// 6.2 GB.
pub const MAX: u64 = 6_200 * MB;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaxFileSizeError {
    #[error("ERROR: MAXFILESIZE must be between 5 MB and 6.2 GB, got {0} bytes ({url})", url = RULE.url)]
    OutOfRange(u64),
    #[error(
        "ERROR: MAXFILESIZE {0} bytes is below 32 MB: for PARQUET, Redshift rounds MAXFILESIZE down to a multiple of \
         32 MB, which gives 0; the docs are silent on this case and the Redshift emulator refuses it ({url})",
        url = RULE.url
    )]
    BelowRowGroup(u64),
}

/// The size Parquet parts are split at.
pub fn parquet_part_size(requested: u64) -> Result<u64, MaxFileSizeError> {
    if !(MIN..=MAX).contains(&requested) {
        return Err(MaxFileSizeError::OutOfRange(requested));
    }
    let rounded = requested / ROW_GROUP * ROW_GROUP;
    if rounded == 0 {
        return Err(MaxFileSizeError::BelowRowGroup(requested));
    }
    Ok(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_down_to_row_groups() {
        assert_eq!(parquet_part_size(200 * MB), Ok(192 * MB));
        assert_eq!(parquet_part_size(32 * MB), Ok(32 * MB));
        assert_eq!(parquet_part_size(5 * MB), Err(MaxFileSizeError::BelowRowGroup(5 * MB)));
        assert_eq!(parquet_part_size(4 * MB), Err(MaxFileSizeError::OutOfRange(4 * MB)));
        assert_eq!(parquet_part_size(7 * 1024 * MB), Err(MaxFileSizeError::OutOfRange(7 * 1024 * MB)));
    }
}
