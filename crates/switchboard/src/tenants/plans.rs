//! The plan catalogue. A tenant copies its plan's limits at creation; a system admin may then
//! change either.

/// A plan and its limits.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub name: &'static str,
    pub messages_per_minute: i32,
    pub monthly_messages: i64,
    pub max_agents: i32,
    pub max_numbers: i32,
}

pub const PLANS: &[Plan] = &[
    Plan { name: "free", messages_per_minute: 60, monthly_messages: 1_000, max_agents: 3, max_numbers: 1 },
    Plan { name: "starter", messages_per_minute: 600, monthly_messages: 50_000, max_agents: 10, max_numbers: 3 },
    Plan { name: "pro", messages_per_minute: 6_000, monthly_messages: 1_000_000, max_agents: 50, max_numbers: 10 },
    Plan {
        name: "enterprise",
        messages_per_minute: 60_000,
        monthly_messages: 100_000_000,
        max_agents: 1_000,
        max_numbers: 100,
    },
];

/// The plan new sign-ups get.
pub const DEFAULT_PLAN: &str = "starter";

pub fn find(name: &str) -> Option<&'static Plan> {
    PLANS.iter().find(|p| p.name == name)
}

pub fn default_plan() -> &'static Plan {
    find(DEFAULT_PLAN).expect("default plan exists")
}
