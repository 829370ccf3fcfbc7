//! The payload of every queue's jobs: one serde type per queue (camelCase JSON in `jobs.payload`),
//! enqueued and read through [`super::Job`], so a producer and its handler cannot disagree on a
//! key. The JSON is the same as before these types existed, so jobs already queued by an older
//! version still run.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Job, queues};

/// `webhook-processor`: process one stored webhook event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessWebhook {
    pub event_id: Uuid,
}

impl Job for ProcessWebhook {
    const QUEUE: &'static str = queues::WEBHOOK_PROCESSOR;
}

/// `message-send`: send a queued message, or tell Meta a customer's message was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum SendJob {
    /// Marks `wa_message_id` read on the number (`{"kind": "markRead", …}`).
    MarkRead { kind: MarkReadKind, account_id: Uuid, wa_message_id: String },
    /// Sends the stored, queued message.
    Send { message_id: Uuid },
}

/// The `kind` tag of [`SendJob::MarkRead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkReadKind {
    #[serde(rename = "markRead")]
    MarkRead,
}

impl SendJob {
    pub fn send(message_id: Uuid) -> Self {
        SendJob::Send { message_id }
    }
    pub fn mark_read(account_id: Uuid, wa_message_id: String) -> Self {
        SendJob::MarkRead { kind: MarkReadKind::MarkRead, account_id, wa_message_id }
    }
}

impl Job for SendJob {
    const QUEUE: &'static str = queues::MESSAGE_SEND;
}

/// `media-download`: fetch an inbound message's media from Meta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadMedia {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub account_id: Uuid,
    pub media_id: String,
    /// The media URL when the webhook carried one.
    pub url: Option<String>,
}

impl Job for DownloadMedia {
    const QUEUE: &'static str = queues::MEDIA_DOWNLOAD;
}

/// `template-sync`: sync one number's templates with Meta (hourly chain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncTemplates {
    pub account_id: Uuid,
}

impl Job for SyncTemplates {
    const QUEUE: &'static str = queues::TEMPLATE_SYNC;
}

impl SyncTemplates {
    /// Numbers' templates are synced this often.
    pub const EVERY: chrono::Duration = chrono::Duration::hours(1);

    /// The number's sync at `at`: one job per number and hour (its unique key), so scheduling it
    /// from several places (a new number, the job's own next run, start-up) enqueues it once.
    pub fn at(tenant: Uuid, account: Uuid, at: chrono::DateTime<chrono::Utc>) -> super::NewJob {
        use chrono::Timelike;
        let hour = at.with_minute(0).and_then(|t| t.with_second(0)).unwrap_or(at);
        Job::job(&SyncTemplates { account_id: account })
            .unique(format!("{account}:{}", hour.format("%Y%m%d%H")))
            .tenant(tenant)
            .at(at)
            .attempts(6)
    }
}

/// `campaign-run`: plan a campaign's recipients, then create their messages at the number's pace;
/// one job per start or resume (`generation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCampaign {
    pub campaign_id: Uuid,
    pub generation: i32,
}

impl Job for RunCampaign {
    const QUEUE: &'static str = queues::CAMPAIGN_RUN;
}

/// `campaign-retry`: after a completed campaign's retry delay, send again to the recipients Meta
/// limited (131049) that have attempts left; `round` counts the retries (its key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryLimited {
    pub campaign_id: Uuid,
    pub round: i32,
}

impl Job for RetryLimited {
    const QUEUE: &'static str = queues::CAMPAIGN_RETRY;
}

/// `webhook-delivery`: deliver one signed event body to one outgoing webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverWebhook {
    pub endpoint_id: Uuid,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub body: String,
}

impl Job for DeliverWebhook {
    const QUEUE: &'static str = queues::WEBHOOK_DELIVERY;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Jobs queued by earlier versions (hand-written JSON) still read, and new ones write the same.
    #[test]
    fn payloads_keep_the_json_of_earlier_versions() {
        let id = Uuid::now_v7();
        let cases = [
            (json!({ "messageId": id }), SendJob::send(id)),
            (
                json!({ "kind": "markRead", "accountId": id, "waMessageId": "wamid.1" }),
                SendJob::mark_read(id, "wamid.1".into()),
            ),
        ];
        for (old, typed) in cases {
            assert_eq!(serde_json::from_value::<SendJob>(old.clone()).unwrap(), typed);
            assert_eq!(serde_json::to_value(&typed).unwrap(), old);
        }
        let w = json!({ "eventId": id });
        assert_eq!(serde_json::to_value(ProcessWebhook { event_id: id }).unwrap(), w);
        let m = json!({ "tenantId": id, "messageId": id, "accountId": id, "mediaId": "m", "url": null });
        assert_eq!(serde_json::from_value::<DownloadMedia>(m).unwrap().media_id, "m");
        let t = json!({ "accountId": id });
        assert_eq!(serde_json::from_value::<SyncTemplates>(t).unwrap().account_id, id);
        let d = json!({ "endpointId": id, "eventId": "evt_1", "type": "message.sent", "body": "{}" });
        assert_eq!(serde_json::from_value::<DeliverWebhook>(d).unwrap().event_type, "message.sent");
    }
}
