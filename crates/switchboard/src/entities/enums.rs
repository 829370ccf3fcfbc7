//! Enumerations stored as strings, identical on both backends.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $val:tt),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(
                #[sea_orm(string_value = $val)]
                #[serde(rename = $val)]
                $variant,
            )+
        }

        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $val,)+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($val => Some(Self::$variant),)+ _ => None }
            }
            pub const ALL: &'static [&'static str] = &[$($val),+];
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A user's role; SYSTEM_ADMIN is the only role without a tenant.
    Role {
        SystemAdmin = "SYSTEM_ADMIN",
        TenantAdmin = "TENANT_ADMIN",
        Agent = "AGENT",
        BillingAdmin = "BILLING_ADMIN",
    }
);

string_enum!(
    /// Whether a tenant may use the platform.
    TenantStatus { Active = "active", Suspended = "suspended" }
);

string_enum!(
    /// An agent's presence.
    AgentStatus { Online = "online", Away = "away", Offline = "offline" }
);

string_enum!(
    /// Whether a WhatsApp number's credentials work.
    AccountStatus { Active = "active", NeedsReauth = "needs_reauth", Disabled = "disabled" }
);

string_enum!(
    /// Processing state of a stored raw webhook.
    WebhookState { Pending = "pending", Processed = "processed", Failed = "failed", Unroutable = "unroutable" }
);

string_enum!(
    /// Conversation workflow state.
    ConversationStatus { Open = "open", Pending = "pending", Resolved = "resolved" }
);

string_enum!(
    /// Message direction.
    Direction { Inbound = "inbound", Outbound = "outbound" }
);

string_enum!(
    /// Message delivery status; see `messages::status` for the transition rules.
    MessageStatus {
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Played = "played",
        Failed = "failed",
        Received = "received",
    }
);

string_enum!(
    /// State of a durable job.
    JobState { Pending = "pending", Running = "running", Done = "done", Failed = "failed", Dead = "dead" }
);

string_enum!(
    /// Where a campaign stands.
    CampaignState {
        Draft = "draft",
        Scheduled = "scheduled",
        Running = "running",
        Paused = "paused",
        Completed = "completed",
        Cancelled = "cancelled",
        Failed = "failed",
    }
);

string_enum!(
    /// Where one recipient of a campaign stands. `queued`: its message exists (created exactly
    /// once, keyed by campaign and contact); what happened to it next is the message's status.
    RecipientState { Pending = "pending", Queued = "queued", Skipped = "skipped", Failed = "failed" }
);
