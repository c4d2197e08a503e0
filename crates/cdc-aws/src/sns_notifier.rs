//! Failure and recovery notices on an SNS topic. The subject and the body
//! are the notice's own ([`Notice::subject`], [`Notice::body`]: readable text,
//! then the notice as JSON); the message attributes `job_id` and `kind`
//! (`failure` or `recovery`) let subscribers filter without parsing the body
//! (an SNS subscription filter policy on `kind`, for instance).

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use cdc_core::PipelineError;
use cdc_core::notify::{Notice, Notifier};

use crate::sdk_error::to_pipeline_error;

/// SNS refuses messages over 256 KiB; a notice that long (a huge error
/// message, twice: text and JSON) is cut rather than lost.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 - 1024;
const TRUNCATED: &str = "\n[message truncated to the SNS size limit]\n";

pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

/// `failure` or `recovery`: the value of the `kind` message attribute.
pub fn notice_kind(notice: &Notice) -> &'static str {
    match notice {
        Notice::Failure(_) => "failure",
        Notice::Recovery(_) => "recovery",
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, PipelineError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PipelineError::config(format!("SNS message attribute: {e}")))
}

fn fit_message(mut body: String) -> String {
    if body.len() <= MAX_MESSAGE_BYTES {
        return body;
    }
    let mut cut = MAX_MESSAGE_BYTES - TRUNCATED.len();
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
    body.push_str(TRUNCATED);
    body
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn send(&self, notice: &Notice) -> Result<(), PipelineError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notice.subject())
            .message(fit_message(notice.body()))
            .message_attributes("job_id", string_attribute(notice.job_id())?)
            .message_attributes("kind", string_attribute(notice_kind(notice))?)
            .send()
            .await
            .map_err(|e| to_pipeline_error(&e, &format!("SNS Publish to topic {}", self.topic_arn)))?;
        tracing::info!(topic = %self.topic_arn, job_id = notice.job_id(), kind = notice_kind(notice), "notice published");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_to_the_sns_limit_on_a_char_boundary() {
        let body = "é".repeat(MAX_MESSAGE_BYTES);
        let fitted = fit_message(body);
        assert!(fitted.len() <= MAX_MESSAGE_BYTES, "{}", fitted.len());
        assert!(fitted.ends_with(TRUNCATED));
        assert_eq!(fit_message("short".into()), "short");
    }
}
