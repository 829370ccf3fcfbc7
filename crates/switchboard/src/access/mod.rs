//! Who is calling, below every feature: the access-token format and principal (`principal`), the
//! axum extractors and role guards (`extract`), the cookie session's token and CSRF check
//! (`cookies`), the per-request check that the user and tenant still stand (`standing`), and API
//! key authentication (`keys`). Signing in, signing up and refreshing are the `auth` feature's.

pub mod cookies;
pub mod extract;
pub mod keys;
pub mod principal;
pub mod standing;
