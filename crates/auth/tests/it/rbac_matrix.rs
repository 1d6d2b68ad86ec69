//! The RBAC matrix: every mechanism × role × route, against a table written out by hand.
//!
//! The table is the specification, so it is spelled out here rather than computed from the role
//! table under test: a change to who may do what must change this file too.

use auth::documents::DocumentInput;
use auth::error::challenge;
use auth::principal::Mechanism;
use reqwest::Method;

use crate::common::{self, Credential, User};

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// A reader.
    Rita,
    /// An author.
    Arthur,
    /// The admin.
    Ada,
}

impl Who {
    fn user(self) -> Option<User> {
        match self {
            Who::Anonymous => None,
            Who::Rita => Some(common::rita()),
            Who::Arthur => Some(common::arthur()),
            Who::Ada => Some(common::ada()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `GET /documents/{id}` (olga's document).
    Read,
    /// `POST /documents`.
    Create,
    /// `PUT /documents/{id}` on a document the caller owns.
    EditOwn,
    /// `PUT /documents/{id}` on olga's document.
    EditOthers,
    /// `DELETE /documents/{id}` (a fresh document of olga's per request).
    Delete,
    /// `GET /admin/accounts`.
    ListAccounts,
    /// `GET /api-keys`.
    ListKeys,
}

use Route::*;
use Who::*;

/// The expected status per mechanism, in the order Basic, session, JWT, API key. Each API key
/// was minted by its role with every scope that role may grant; no key ever holds `keys:manage`.
const EXPECTED: [(Route, Who, [u16; 4]); 28] = [
    (Read, Anonymous, [401, 401, 401, 401]),
    (Read, Rita, [200, 200, 200, 200]),
    (Read, Arthur, [200, 200, 200, 200]),
    (Read, Ada, [200, 200, 200, 200]),
    (Create, Anonymous, [401, 401, 401, 401]),
    (Create, Rita, [403, 403, 403, 403]),
    (Create, Arthur, [201, 201, 201, 201]),
    (Create, Ada, [201, 201, 201, 201]),
    (EditOwn, Anonymous, [401, 401, 401, 401]),
    // A reader owning a document still may not edit it: the permission comes first.
    (EditOwn, Rita, [403, 403, 403, 403]),
    (EditOwn, Arthur, [200, 200, 200, 200]),
    (EditOwn, Ada, [200, 200, 200, 200]),
    (EditOthers, Anonymous, [401, 401, 401, 401]),
    (EditOthers, Rita, [403, 403, 403, 403]),
    // The ownership rule, beside RBAC: an author edits only their own.
    (EditOthers, Arthur, [403, 403, 403, 403]),
    (EditOthers, Ada, [200, 200, 200, 200]),
    (Delete, Anonymous, [401, 401, 401, 401]),
    (Delete, Rita, [403, 403, 403, 403]),
    (Delete, Arthur, [403, 403, 403, 403]),
    (Delete, Ada, [204, 204, 204, 204]),
    (ListAccounts, Anonymous, [401, 401, 401, 401]),
    (ListAccounts, Rita, [403, 403, 403, 403]),
    (ListAccounts, Arthur, [403, 403, 403, 403]),
    (ListAccounts, Ada, [200, 200, 200, 200]),
    (ListKeys, Anonymous, [401, 401, 401, 401]),
    // Everyone manages their own keys, except through a key.
    (ListKeys, Rita, [200, 200, 200, 403]),
    (ListKeys, Arthur, [200, 200, 200, 403]),
    (ListKeys, Ada, [200, 200, 200, 403]),
];

fn input(title: &str) -> DocumentInput {
    DocumentInput {
        title: title.to_owned(),
        body: "written by the RBAC matrix".to_owned(),
    }
}

/// Every mechanism answers every role on every route with the status in the table: 401 (with
/// that mechanism's challenge) when nobody is authenticated, 403 (with no challenge, since
/// logging in again would not help) when the caller may not, 2xx when they may.
#[actix_web::test]
async fn every_mechanism_role_and_route_answers_as_the_table_says() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let olga = app.account_id("olga")?;
    let others = app
        .state
        .documents
        .insert(olga, &input("olga's document"))?;
    let mut credentials = Vec::new();
    for mechanism in Mechanism::ALL {
        for who in [Anonymous, Rita, Arthur, Ada] {
            let credential = match who.user() {
                None => Credential::Anonymous,
                Some(user) => app.credential(mechanism, user).await?,
            };
            credentials.push(((mechanism, who), credential));
        }
    }
    let credential = |mechanism, who| {
        credentials
            .iter()
            .find(|(key, _)| *key == (mechanism, who))
            .map(|(_, c)| c.clone())
            .ok_or_else(|| anyhow::anyhow!("no credential for {who:?} by {mechanism:?}"))
    };

    // Act
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (route, who, statuses) in EXPECTED {
        for (mechanism, expected) in Mechanism::ALL.into_iter().zip(statuses) {
            let prefix = mechanism.prefix();
            let owner = match who.user() {
                Some(user) => app.account_id(user.username)?,
                None => app.account_id("arthur")?,
            };
            let (method, path) = match route {
                Read => (Method::GET, format!("{prefix}/documents/{}", others.id)),
                Create => (Method::POST, format!("{prefix}/documents")),
                EditOwn => {
                    let own = app.state.documents.insert(owner, &input("own"))?;
                    (Method::PUT, format!("{prefix}/documents/{}", own.id))
                }
                EditOthers => (Method::PUT, format!("{prefix}/documents/{}", others.id)),
                Delete => {
                    let doomed = app.state.documents.insert(olga, &input("doomed"))?;
                    (Method::DELETE, format!("{prefix}/documents/{}", doomed.id))
                }
                ListAccounts => (Method::GET, format!("{prefix}/admin/accounts")),
                ListKeys => (Method::GET, format!("{prefix}/api-keys")),
            };
            let mut request = app.request(method.clone(), &path, &credential(mechanism, who)?);
            if matches!(route, Create | EditOwn | EditOthers) {
                request = request.json(&input("edited by the matrix"));
            }
            let response = request.send().await?;
            cells += 1;

            // Assert (collected, so one run shows every wrong cell)
            let status = response.status().as_u16();
            let got_challenge = common::challenge_of(&response);
            let cell = format!("{who:?} {method} {path} ({})", mechanism.label());
            if status != expected {
                mismatches.push(format!("{cell}: expected {expected}, got {status}"));
            }
            match status {
                401 if got_challenge.as_deref() != Some(challenge(mechanism).as_str()) => {
                    mismatches.push(format!("{cell}: 401 challenged with {got_challenge:?}"));
                }
                403 if got_challenge.is_some() => {
                    mismatches.push(format!("{cell}: 403 challenged with {got_challenge:?}"));
                }
                401 | 403 => {
                    common::problem(response).await?;
                }
                _ => {}
            }
        }
    }

    // Assert
    assert_eq!(cells, 7 * 4 * 4);
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    Ok(())
}
