//! Conversations: the inbox list, a thread's state (status, assignee, tags, unread), and who may
//! see it. An AGENT sees conversations assigned to them and unassigned ones; admins see all.

pub mod routes;
pub mod service;
