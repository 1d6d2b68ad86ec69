//! The OpenAPI document's fixed parts: title, version, the `Token` security scheme, the tags.
//! The paths and schemas are not listed here: `http.rs` mounts the handlers through
//! `utoipa-actix-web`, which collects each handler's `#[utoipa::path]` as it mounts it, so the
//! document and the router are built by the same calls and cannot disagree.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where Swagger UI is served (its assets are compiled into the binary: it works offline).
pub const SWAGGER_PATH: &str = "/api/docs/";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mini-blog: the RealWorld (Conduit) API",
        version = "2.0.0",
        description = "The RealWorld Conduit API, v2, plus three extensions: keyset cursors \
            (`?cursor=` and `Link: rel=\"next\"`) on the lists, `GET /api/articles/top` \
            (the most favourited articles, cached), and `GET /api/user/notifications`. \
            Send the token as `Authorization: Token <jwt>` (`Bearer` works too)."
    ),
    modifiers(&TokenScheme),
    tags(
        (name = "users", description = "Registration, login, the current user"),
        (name = "profiles", description = "Profiles and following"),
        (name = "articles", description = "Articles, lists, the feed, the top list"),
        (name = "favorites", description = "Favouriting articles"),
        (name = "comments", description = "Comments on articles"),
        (name = "tags", description = "Tags in use"),
    )
)]
pub struct Base;

/// `Authorization: Token <jwt>`: an API key in a header, as the spec declares it.
struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "Token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt>` from the register or login answer",
            ))),
        );
    }
}

/// The fixed parts, for `utoipa-actix-web` to add the paths to.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}
