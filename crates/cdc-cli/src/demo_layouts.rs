//! The DMS S3 layouts the demo runs (docs/dms.md): the config's own, then
//! DMS's defaults and the date-partition variants, each a `[dms]` table as a
//! user would write it.

use anyhow::{Context, bail};
use cdc_core::PipelineConfig;
use cdc_core::dms::{DmsSettings, RawDmsSettings};

/// (name, `[dms]` keys other than `timestamp_column_name`).
const LAYOUTS: [(&str, &str); 8] = [
    (
        "seed",
        "bucket_folder = { full_load = \"full\", cdc = \"cdc\" }\ndate_partition_enabled = true\n\
         date_partition_delimiter = \"NONE\"",
    ),
    ("dms-defaults", ""),
    ("slash-yyyymmdd", "bucket_folder = \"dms\"\ndate_partition_enabled = true"),
    (
        "dash-yyyymmdd",
        "date_partition_enabled = true\ndate_partition_delimiter = \"DASH\"\ninclude_op_for_full_load = true",
    ),
    (
        "slash-yyyymmddhh",
        "bucket_folder = \"dms\"\ndate_partition_enabled = true\ndate_partition_sequence = \"YYYYMMDDHH\"",
    ),
    ("yyyymm", "date_partition_enabled = true\ndate_partition_sequence = \"YYYYMM\""),
    (
        "underscore-mmyyyydd",
        "date_partition_enabled = true\ndate_partition_sequence = \"MMYYYYDD\"\ndate_partition_delimiter = \"UNDERSCORE\"\n\
         include_op_for_full_load = true",
    ),
    (
        "none-ddmmyyyy",
        "date_partition_enabled = true\ndate_partition_sequence = \"DDMMYYYY\"\ndate_partition_delimiter = \"NONE\"",
    ),
];

/// Layouts run only when named: DMS then leaves changes out by design, so
/// the target follows the oracle but not the source database.
const EXTRA_LAYOUTS: [(&str, &str); 1] = [("inserts-only", "cdc_inserts_only = true")];

/// Every layout's name, in the order the demo runs them.
pub fn names() -> Vec<&'static str> {
    LAYOUTS.iter().map(|(n, _)| *n).collect()
}

/// The config with the named layout's `[dms]` (DMS's timestamp column kept).
pub fn with_layout(cfg: &PipelineConfig, name: &str) -> anyhow::Result<PipelineConfig> {
    let Some((_, keys)) = LAYOUTS.iter().chain(&EXTRA_LAYOUTS).find(|(n, _)| *n == name) else {
        let extra: Vec<&str> = EXTRA_LAYOUTS.iter().map(|(n, _)| *n).collect();
        bail!("unknown layout {name:?}; the layouts are {}, and {}", names().join(", "), extra.join(", "));
    };
    let mut text = keys.to_string();
    if let Some(ts) = &cfg.dms.timestamp_column_name {
        text.push_str(&format!("\ntimestamp_column_name = \"{ts}\""));
    }
    let raw: RawDmsSettings = toml::from_str(&text).with_context(|| format!("layout {name}"))?;
    let dms = DmsSettings::from_raw(raw).map_err(|e| anyhow::anyhow!("layout {name}: {e}"))?;
    Ok(PipelineConfig { dms, ..cfg.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdc_core::dms::Layout;

    #[test]
    fn the_eight_layouts_are_distinct_and_the_seed_s_is_the_config_s() {
        let cfg = PipelineConfig::parse(include_str!("../../../config/pipeline.toml"), "demo").unwrap();
        let all: Vec<PipelineConfig> = names().iter().map(|n| with_layout(&cfg, n).unwrap()).collect();
        assert_eq!(all.len(), 8);
        assert_eq!(all[0].dms, cfg.dms);
        let keys: std::collections::BTreeSet<String> = all
            .iter()
            .map(|c| {
                Layout::new(&c.dms).cdc_key(
                    "s",
                    "t",
                    chrono::NaiveDate::from_ymd_opt(2024, 1, 5).unwrap().and_hms_opt(13, 0, 0).unwrap(),
                )
            })
            .collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
        assert!(with_layout(&cfg, "nope").is_err());
    }
}
