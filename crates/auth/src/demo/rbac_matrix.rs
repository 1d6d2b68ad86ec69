//! The RBAC matrix: every mechanism × role × route, as the status real requests got.
//!
//! The point is the shape: the four blocks are identical, because every mechanism ends in the
//! same principal and the same permission check. Anonymous rows are 401 everywhere (who are
//! you?), and the rest is 403 exactly where the role (or an API key's scopes) lacks the
//! permission, or the document is someone else's.

use anyhow::Context as _;
use reqwest::Method;
use reqwest::header::WWW_AUTHENTICATE;
use serde::Serialize;
use serde_json::json;
use support::narrate::Narrator;
use support::report::{Table, Unit};

use super::{Bench, login};
use crate::documents::DocumentInput;
use crate::error::challenge;
use crate::principal::Mechanism;
use crate::rbac::Role;

pub const TITLE: &str = "The RBAC matrix: mechanism × role × route";

/// One probed route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Route {
    ReadDocument,
    CreateDocument,
    EditOwnDocument,
    EditOthersDocument,
    DeleteDocument,
    ListAccounts,
    ListOwnKeys,
}

impl Route {
    pub const ALL: [Route; 7] = [
        Route::ReadDocument,
        Route::CreateDocument,
        Route::EditOwnDocument,
        Route::EditOthersDocument,
        Route::DeleteDocument,
        Route::ListAccounts,
        Route::ListOwnKeys,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Route::ReadDocument => "GET doc",
            Route::CreateDocument => "POST doc",
            Route::EditOwnDocument => "PUT arthur's",
            Route::EditOthersDocument => "PUT olga's",
            Route::DeleteDocument => "DELETE doc",
            Route::ListAccounts => "GET /admin/accounts",
            Route::ListOwnKeys => "GET /api-keys",
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub mechanism: Mechanism,
    /// `None`: no credential at all.
    pub role: Option<Role>,
    pub route: Route,
    pub status: u16,
    /// For a 401: whether `WWW-Authenticate` carried this mechanism's challenge. For any other
    /// status: whether it carried none.
    pub challenge_right: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RbacMatrix {
    pub cells: Vec<Cell>,
}

impl RbacMatrix {
    /// Whether every API key was refused key management (401 or 403), whatever its owner's role.
    pub fn keys_never_manage_keys(&self) -> bool {
        self.cells
            .iter()
            .filter(|c| c.mechanism == Mechanism::ApiKey && c.route == Route::ListOwnKeys)
            .all(|c| matches!(c.status, 401 | 403))
    }

    pub fn count(&self, status: u16) -> usize {
        self.cells.iter().filter(|c| c.status == status).count()
    }

    pub fn allowed(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| (200..300).contains(&c.status))
            .count()
    }

    /// Cells whose challenge header was wrong (missing on a 401, present on anything else).
    pub fn wrong_challenges(&self) -> usize {
        self.cells.iter().filter(|c| !c.challenge_right).count()
    }

    /// Whether the four mechanisms' blocks hold the same statuses on the document and account
    /// routes (key management differs by design: a key may never manage keys).
    pub fn mechanisms_agree(&self) -> bool {
        let block = |m: Mechanism| -> Vec<(Option<Role>, Route, u16)> {
            self.cells
                .iter()
                .filter(|c| c.mechanism == m && c.route != Route::ListOwnKeys)
                .map(|c| (c.role, c.route, c.status))
                .collect()
        };
        let first = block(Mechanism::Basic);
        Mechanism::ALL.iter().all(|m| block(*m) == first)
    }
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<RbacMatrix> {
    let node = &bench.manual;
    let http = &bench.http;
    let docs = &node.state.documents;
    let owner_of = |name: &str| -> anyhow::Result<u64> {
        Ok(node.state.accounts.find(name)?.context("seeded")?.id)
    };
    let arthurs = docs
        .insert(owner_of("arthur")?, &input("arthur's matrix document"))?
        .id;
    let olgas = docs
        .insert(owner_of("olga")?, &input("olga's matrix document"))?
        .id;

    let roles = [
        None,
        Some(Role::Reader),
        Some(Role::Author),
        Some(Role::Admin),
    ];
    let mut cells = Vec::new();
    for mechanism in Mechanism::ALL {
        for role in roles {
            let credential = match role {
                Some(role) => Some(login(http, node, mechanism, super::account_with(role)).await?),
                None => None,
            };
            for route in Route::ALL {
                let (method, path, body) = match route {
                    Route::ReadDocument => (Method::GET, format!("/documents/{arthurs}"), None),
                    Route::CreateDocument => (
                        Method::POST,
                        "/documents".to_owned(),
                        Some(json!({ "title": "from the matrix" })),
                    ),
                    Route::EditOwnDocument => (
                        Method::PUT,
                        format!("/documents/{arthurs}"),
                        Some(json!({ "title": "edited" })),
                    ),
                    Route::EditOthersDocument => (
                        Method::PUT,
                        format!("/documents/{olgas}"),
                        Some(json!({ "title": "edited" })),
                    ),
                    // A fresh document per attempt, so an allowed delete leaves the next one something to delete.
                    Route::DeleteDocument => {
                        let doomed = docs.insert(owner_of("arthur")?, &input("to delete"))?.id;
                        (Method::DELETE, format!("/documents/{doomed}"), None)
                    }
                    Route::ListAccounts => (Method::GET, "/admin/accounts".to_owned(), None),
                    Route::ListOwnKeys => (Method::GET, "/api-keys".to_owned(), None),
                };
                let unsafe_method = !matches!(method, Method::GET);
                let mut req = http.request(
                    method,
                    node.server.url(&format!("{}{path}", mechanism.prefix())),
                );
                if let Some(credential) = &credential {
                    req = credential.apply(req, unsafe_method);
                }
                if let Some(body) = &body {
                    req = req.json(body);
                }
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let header = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok());
                let challenge_right = match status {
                    401 => header.is_some_and(|h| h.starts_with(&challenge(mechanism))),
                    _ => header.is_none(),
                };
                cells.push(Cell {
                    mechanism,
                    role,
                    route,
                    status,
                    challenge_right,
                });
            }
        }
    }
    let figures = RbacMatrix { cells };

    let mut table = Table::new("mechanism / role");
    for route in Route::ALL {
        table = table.column(route.label(), Unit::Count);
    }
    for mechanism in Mechanism::ALL {
        for role in roles {
            let row = figures
                .cells
                .iter()
                .filter(|c| c.mechanism == mechanism && c.role == role)
                .map(|c| f64::from(c.status).into());
            let who = role.map_or("anonymous", Role::label);
            table.row(format!("{} / {who}", mechanism.label()), row);
        }
    }
    n.say(
        "Each cell is the status of one real request. Readers are rita, authors arthur, admins ada; \
         each API key was minted by that account with every scope its role may grant. 'PUT \
         arthur's' is an author editing their own document, 'PUT olga's' someone else's.",
    );
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

fn input(title: &str) -> DocumentInput {
    DocumentInput {
        title: title.to_owned(),
        body: String::new(),
    }
}
