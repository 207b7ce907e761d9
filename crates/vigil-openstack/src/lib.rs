//! A small OpenStack client: Keystone v3 authentication, the service catalog, token reuse until
//! shortly before expiry, one request path with microversion headers, and [`nova::Compute`],
//! the typed Nova client every Vigil crate uses.
//!
//! Why not the `openstack_sdk` crate: Vigil needs a handful of Nova calls with explicit
//! microversions, its own error classification (retry, gone, conflict) and one token shared by
//! every engine task; a thin layer over reqwest keeps that visible. Everything OpenStack-specific
//! stays behind `Session` and `Compute`, so swapping the implementation later is local.
//!
//! - `credentials`: [`Credentials`], from Vigil's configuration or a `clouds.yaml`;
//! - `session`: [`Session`], the token and the one request path (re-authenticates once on 401);
//! - `token`: what is read from Keystone's tokens;
//! - `error`: [`OsError`], one variant per failed operation, classified by
//!   [`vigil_domain::Classify`];
//! - [`nova`]: the Nova client and its typed results;
//! - [`placement`]: the Placement client (providers, inventories, usages, allocations);
//! - [`tls`]: a CA file added to an HTTPS client's trusted certificates.

mod credentials;
mod error;
pub mod nova;
pub mod placement;
mod session;
pub mod tls;
mod token;

pub use credentials::Credentials;
pub use error::{Exchange, OsError};
pub use session::Session;
pub use token::TokenInfo;
