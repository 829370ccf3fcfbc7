//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::events::EventSchemas;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Multi-tenant WhatsApp Business Platform. All bodies are JSON in camelCase; errors are `{\"error\":{\"code\",\"message\",\"details\"}}`."),
    modifiers(&BearerAuth, &EventSchemas),
    components(schemas(crate::error::ErrorBody, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Sign-up, sign-in and tokens"),
        (name = "health", description = "Liveness, readiness and dependencies"),
        (name = "admin", description = "Platform operation (SYSTEM_ADMIN)"),
        (name = "whatsapp-accounts", description = "WhatsApp numbers and their credentials"),
        (name = "webhooks", description = "Meta's webhook endpoint"),
        (name = "media", description = "Stored media files"),
        (name = "realtime", description = "Server-Sent Events"),
        (name = "conversations", description = "The team inbox: conversations and messages"),
        (name = "contacts", description = "Contacts: search, edit, CSV import"),
        (name = "canned-responses", description = "Saved replies"),
        (name = "notes", description = "Internal notes on conversations"),
        (name = "agents", description = "Agents' presence, capacity and round-robin"),
        (name = "templates", description = "Message templates: create, review status, sync, preview"),
        (name = "team", description = "Users of the tenant: invitations, roles, activation"),
        (name = "settings", description = "Tenant settings: name, theme, business hours, opt-out keywords"),
        (name = "usage", description = "Plans and usage (TENANT_ADMIN, BILLING_ADMIN)"),
        (name = "audit", description = "The tenant's audit log"),
        (name = "api-keys", description = "API keys for integrations (Bearer sk_…) with read, send or admin scope"),
        (name = "webhook-endpoints", description = "Outgoing webhooks to the tenant's systems: endpoints, signing secrets, delivery log"),
        (name = "analytics", description = "Message, response-time and delivery figures (TENANT_ADMIN, BILLING_ADMIN)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
