//! The SNS notifier against moto: the notices reach a subscribed SQS queue
//! with their subject, body and message attributes; a missing topic is a
//! `ConfigError` naming it.

use std::time::Duration;

use cdc_aws::SnsNotifier;
use cdc_core::ErrorKind;
use cdc_core::notify::{FailureNotice, Notice, Notifier, RecoveryNotice};
use cdc_moto::MotoServer;
use chrono::{DateTime, Utc};
use serde_json::Value;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn failure() -> Notice {
    Notice::Failure(FailureNotice {
        job_id: "orders-101".into(),
        execution_id: "arn:aws:states:us-east-1:123456789012:execution:cdc:run-42".into(),
        console_link: cdc_core::notify::console_link("arn:aws:states:us-east-1:123456789012:execution:cdc:run-42"),
        failed_step: "LoadFacts".into(),
        failed_tables: vec!["pgbench_history".into(), "orders".into()],
        error_type: "DataError".into(),
        error_message: "file cdc/public/orders/20261123/x.parquet: column id is text".into(),
        consecutive_failures: 3,
        last_success: Some(at(0)),
        failed_at: at(900),
    })
}

fn recovery() -> Notice {
    Notice::Recovery(RecoveryNotice {
        job_id: "orders-101".into(),
        execution_id: "arn:aws:states:us-east-1:123456789012:execution:cdc:run-43".into(),
        console_link: None,
        failures_before: 3,
        recovered_at: at(1200),
    })
}

/// A topic with an SQS queue subscribed; returns the topic ARN and queue URL.
async fn topic_with_queue(moto: &MotoServer) -> (aws_sdk_sns::Client, aws_sdk_sqs::Client, String, String) {
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns.create_topic().name("cdc-alerts").send().await.unwrap().topic_arn.unwrap();
    let queue_url = sqs.create_queue().queue_name("cdc-alerts-inbox").send().await.unwrap().queue_url.unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    (sns, sqs, topic, queue_url)
}

/// The SNS envelopes (JSON) delivered to the queue, `count` of them.
async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, count: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..50 {
        let got = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).send().await.unwrap();
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
        }
        if out.len() >= count {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {} of {count} messages arrived", out.len());
}

fn attribute(envelope: &Value, name: &str) -> String {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {envelope}"))
        .to_string()
}

#[tokio::test]
async fn failure_and_recovery_notices_arrive_with_subject_body_and_attributes() {
    // GIVEN a topic with a queue subscribed
    let moto = MotoServer::start().unwrap();
    let (sns, sqs, topic, queue_url) = topic_with_queue(&moto).await;
    let notifier = SnsNotifier::new(sns, &topic);
    // WHEN a failure then a recovery are sent
    notifier.send(&failure()).await.unwrap();
    notifier.send(&recovery()).await.unwrap();
    // THEN both arrive, in order, as the notice renders them
    let got = receive(&sqs, &queue_url, 2).await;
    assert_eq!(got.len(), 2);
    let (f, r) = (&got[0], &got[1]);
    assert_eq!(f["TopicArn"], topic.as_str());
    assert_eq!(f["Subject"], "CDC job orders-101 failed (DataError, 3 in a row)");
    assert_eq!(f["Message"].as_str().unwrap(), failure().body());
    let body = f["Message"].as_str().unwrap();
    for needle in [
        "Job orders-101 failed in step LoadFacts",
        "Execution: arn:aws:states:us-east-1:123456789012:execution:cdc:run-42",
        "Failed tables: pgbench_history, orders",
        "Error: DataError: file cdc/public/orders/20261123/x.parquet: column id is text",
        "Consecutive failures: 3",
        "Last success: 2027-01-15T08:00:00+00:00",
    ] {
        assert!(body.contains(needle), "missing {needle:?} in\n{body}");
    }
    assert_eq!(attribute(f, "job_id"), "orders-101");
    assert_eq!(attribute(f, "kind"), "failure");
    assert_eq!(r["Subject"], "CDC job orders-101 recovered after 3 failed runs");
    assert_eq!(r["Message"].as_str().unwrap(), recovery().body());
    assert_eq!(attribute(r, "job_id"), "orders-101");
    assert_eq!(attribute(r, "kind"), "recovery");
    // AND the JSON part of the body round-trips to the notice, for machines
    let json = &body[body.find('{').unwrap()..];
    assert_eq!(serde_json::from_str::<Notice>(json).unwrap(), failure());
}

#[tokio::test]
async fn a_missing_topic_is_a_config_error_naming_it() {
    // GIVEN no topic WHEN a notice is sent to one THEN ConfigError naming the topic
    let moto = MotoServer::start().unwrap();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let err = SnsNotifier::new(sns, topic).send(&failure()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConfigError, "{err}");
    assert!(err.message.contains(topic), "{err}");
    assert!(err.message.contains("NotFound"), "{err}");
}

#[tokio::test]
async fn a_subscription_filter_on_kind_sees_only_that_kind() {
    // GIVEN a queue subscribed with a filter policy on the kind attribute
    let moto = MotoServer::start().unwrap();
    let (sns, sqs, topic, queue_url) = topic_with_queue(&moto).await;
    let subs = sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.unwrap();
    let sub_arn = subs.subscriptions()[0].subscription_arn().unwrap().to_string();
    sns.set_subscription_attributes()
        .subscription_arn(&sub_arn)
        .attribute_name("FilterPolicy")
        .attribute_value(r#"{"kind": ["failure"]}"#)
        .send()
        .await
        .unwrap();
    let notifier = SnsNotifier::new(sns.clone(), &topic);
    // WHEN a recovery then a failure are sent THEN only the failure arrives
    notifier.send(&recovery()).await.unwrap();
    notifier.send(&failure()).await.unwrap();
    let got = receive(&sqs, &queue_url, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(attribute(&got[0], "kind"), "failure");
}
