//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! The handlers document their success bodies and the errors only they answer (409s, 429s, 503s);
//! [`document`] adds the errors every operation of a kind can answer — 400 for what the extractors
//! and the connection refuse, 401/403 where a token is required, 404 where the path names a
//! resource, 413/415/422 where there is a body or a query, 503 when the database is unreachable —
//! so the document cannot forget one.
//! `.ci/fuzz` checks the result against the running binary.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{ResponseBuilder, Responses};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
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
        (name = "campaigns", description = "Bulk template sends to an audience, exactly once per recipient"),
        (name = "segments", description = "Saved rules over contacts: tags, attributes, country, activity, conversation status"),
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

/// The document served at `/api/openapi.json`: [`ApiDoc`] plus the routes' operations (gathered by
/// the router) with the shared error responses added.
pub fn document(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    ErrorResponses.modify(&mut openapi);
    openapi
}

/// The shared error responses (`#/components/responses/…`), each an [`crate::error::ErrorBody`].
const SHARED: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "The request could not be parsed: malformed JSON, query, path or multipart body"),
    ("401", "Unauthorized", "No valid access token, session or API key"),
    ("403", "Forbidden", "The caller's role, scope or tenant may not do this"),
    ("404", "NotFound", "No such resource in the caller's tenant"),
    ("413", "PayloadTooLarge", "The body is over the limit"),
    ("415", "UnsupportedMediaType", "The body is not of the expected content type"),
    ("422", "ValidationFailed", "A field is invalid; `details.fields` lists them"),
    ("503", "Unavailable", "`database_unavailable`: retry after `Retry-After` seconds"),
];

/// Adds to every operation the error responses its kind can answer and it does not document itself.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (_, name, description) in SHARED {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            components.responses.insert(
                (*name).to_string(),
                RefOr::T(ResponseBuilder::new().description(*description).content("application/json", content).build()),
            );
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let path_params = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(op, path_params);
            }
        }
    }
}

fn add_errors(op: &mut Operation, path_params: bool) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let body = op.request_body.is_some();
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let applies = |status: &str| match status {
        "400" => true,
        "401" | "403" => secured,
        "404" => path_params,
        "413" | "415" => body,
        "422" => body || query,
        "503" => true,
        _ => false,
    };
    let responses: &mut Responses = &mut op.responses;
    for (status, name, _) in SHARED {
        if applies(status) && !responses.responses.contains_key(*status) {
            responses
                .responses
                .insert((*status).to_string(), RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))));
        }
    }
}
