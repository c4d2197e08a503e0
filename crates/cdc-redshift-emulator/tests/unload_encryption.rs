//! UNLOAD writes SSE-S3 unless `KMS_KEY_ID 'key' ENCRYPTED` asks for
//! SSE-KMS ("UNLOAD automatically creates files using Amazon S3
//! server-side encryption with AWS managed encryption keys (SSE-S3)",
//! t_unloading_encrypted_files.html); KMS_KEY_ID needs ENCRYPTED (r_UNLOAD.html).

mod support;

use aws_sdk_s3::types::ServerSideEncryption;
use cdc_moto::MotoServer;
use cdc_redshift_emulator::{Emulator, EmulatorConfig};
use support::*;

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unload_with_a_kms_key_writes_sse_kms_parts_and_needs_encrypted() {
    let moto = MotoServer::start().expect("moto_server starts (run scripts/python-tools first)");
    let aws = moto.sdk_config().await;
    let s3 = s3_client(&aws);
    s3.create_bucket().bucket(OPTIMIZED_BUCKET).send().await.unwrap();
    let emu = Emulator::start(EmulatorConfig { aws: Some(aws), ..Default::default() }).unwrap();
    let wh = warehouse(&emu);
    let unload = |prefix: &str, options: &str| {
        format!(
            "UNLOAD ('SELECT 1 AS n') TO 's3://{OPTIMIZED_BUCKET}/{prefix}/' IAM_ROLE '{UNLOAD_ROLE}' {options} FORMAT AS \
             PARQUET PARALLEL OFF"
        )
    };
    // WHEN one day is unloaded with the key and one without
    run(&wh, batch("kms", &[&unload("kms", &format!("KMS_KEY_ID '{KEY}' ENCRYPTED"))])).await.unwrap();
    run(&wh, batch("sse-s3", &[&unload("plain", "")])).await.unwrap();
    // THEN the first's part is SSE-KMS under the key, the second's is not
    let head = |key: &'static str| s3.head_object().bucket(OPTIMIZED_BUCKET).key(key).send();
    let kms = head("kms/000.parquet").await.unwrap();
    assert_eq!(kms.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(kms.ssekms_key_id(), Some(KEY));
    let plain = head("plain/000.parquet").await.unwrap();
    assert_ne!(plain.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    // AND a key without ENCRYPTED is a syntax error, as on Redshift
    let e = run(&wh, batch("no-encrypted", &[&unload("bad", &format!("KMS_KEY_ID '{KEY}'"))])).await.unwrap_err();
    assert!(e.message.contains("KMS_KEY_ID needs ENCRYPTED"), "{e}");
}
